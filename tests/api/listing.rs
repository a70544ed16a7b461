//! Listing: paging, search, tag and status filters, sorting, query validation.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{expires_soon, TestApp};

async fn names(app: &TestApp, query: &str) -> (u64, Vec<String>) {
    let (status, body) = app
        .admin(Method::GET, &format!("/api/v1/admin/keys?{query}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    let names = body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["name"].as_str().expect("name").to_string())
        .collect();
    (body["total"].as_u64().expect("total"), names)
}

#[tokio::test]
async fn pages_filters_and_sorts() {
    let app = TestApp::spawn().await;
    let soon = expires_soon();
    let mut ids = Vec::new();
    for (name, tags, extra) in [
        ("Alpha prod", json!(["prod"]), json!({})),
        ("beta staging", json!(["staging"]), json!({})),
        (
            "Gamma prod",
            json!(["prod", "eu"]),
            json!({"isActive": false}),
        ),
        ("delta", json!([]), json!({"expiresAt": soon.at})),
        ("epsilon PRODUCTION", json!(["prod"]), json!({})),
    ] {
        let mut fields = json!({"name": name, "tags": tags});
        fields
            .as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        ids.push(app.create_key(fields).await.0);
    }

    soon.passed().await;

    // Newest first by default.
    assert_eq!(names(&app, "").await.1[0], "epsilon PRODUCTION");
    assert_eq!(
        names(&app, "sort=name").await.1,
        [
            "Alpha prod",
            "beta staging",
            "delta",
            "epsilon PRODUCTION",
            "Gamma prod"
        ]
    );
    assert_eq!(
        names(&app, "sort=name&order=desc&perPage=2").await,
        (5, vec!["Gamma prod".into(), "epsilon PRODUCTION".into()])
    );
    assert_eq!(
        names(&app, "sort=name&perPage=2&page=3").await,
        (5, vec!["Gamma prod".into()])
    );
    assert_eq!(names(&app, "sort=name&perPage=2&page=4").await, (5, vec![]));

    assert_eq!(
        names(&app, "q=PROD&sort=name").await,
        (
            3,
            vec![
                "Alpha prod".into(),
                "epsilon PRODUCTION".into(),
                "Gamma prod".into()
            ]
        )
    );
    assert_eq!(names(&app, "tag=prod&sort=name").await.0, 3);
    assert_eq!(names(&app, "tag=eu").await.1, ["Gamma prod"]);
    assert_eq!(names(&app, "status=disabled").await.1, ["Gamma prod"]);
    assert_eq!(names(&app, "status=expired").await.1, ["delta"]);
    assert_eq!(
        names(&app, "status=active&sort=name").await.1,
        ["Alpha prod", "beta staging", "epsilon PRODUCTION"]
    );
    assert_eq!(
        names(&app, "status=active&tag=prod&q=alp").await,
        (1, vec!["Alpha prod".into()])
    );

    // Sorting by today's cost and by last use follows recorded usage.
    for (id, tokens) in [(&ids[1], 1000), (&ids[3], 10)] {
        let usage = json!({"keyId": id, "model": "claude-sonnet-4-5", "usage": {"input_tokens": tokens, "output_tokens": 0}});
        assert_eq!(app.record_usage(usage).await.0, StatusCode::OK);
    }
    let by_cost = names(&app, "sort=dailyCost&order=desc").await.1;
    assert_eq!(&by_cost[..2], ["beta staging", "delta"]);
    assert_eq!(
        names(&app, "sort=lastUsedAt&order=desc").await.1[0],
        "delta"
    );

    // A renamed key moves in the name order and search.
    let path = format!("/api/v1/admin/keys/{}", ids[0]);
    app.admin(
        Method::PATCH,
        &path,
        Some(json!({"name": "zeta", "tags": []})),
    )
    .await;
    assert_eq!(
        names(&app, "sort=name").await.1.last().map(String::as_str),
        Some("zeta")
    );
    assert_eq!(names(&app, "q=alpha").await.0, 0);
    assert_eq!(names(&app, "tag=prod").await.0, 2);
}

#[tokio::test]
async fn bad_query_parameters_name_the_parameter() {
    let app = TestApp::spawn().await;
    for (query, field) in [
        ("page=0", "page"),
        ("page=x", "page"),
        ("perPage=1001", "perPage"),
        ("status=sleepy", "status"),
        ("sort=colour", "sort"),
        ("order=up", "order"),
        ("pgae=2", "pgae"),
    ] {
        let (status, body): (StatusCode, Value) = app
            .admin(Method::GET, &format!("/api/v1/admin/keys?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["error"]["field"], field, "{query}");
    }
    let long = format!("/api/v1/admin/keys?q={}", "a".repeat(5000));
    assert_eq!(
        app.admin(Method::GET, &long, None).await.0,
        StatusCode::BAD_REQUEST
    );
}
