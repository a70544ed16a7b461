//! Leases on every admission (listing, release all), extending a key, and `limitedBy`.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::TestApp;

fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("rfc3339")
        .with_timezone(&Utc)
}

#[tokio::test]
async fn every_admission_takes_a_lease_that_can_be_listed_and_released() {
    let app = TestApp::spawn().await;
    // No concurrency limit: the leases are still taken and counted.
    let (id, secret) = app.create_key(json!({"name": "l"})).await;
    let mut taken = Vec::new();
    for _ in 0..3 {
        let (status, body) = app.admit(&secret).await;
        assert_eq!(status, StatusCode::OK);
        taken.push(body["lease"]["id"].as_str().expect("a lease").to_string());
    }
    assert_eq!(app.get_key(&id).await["currentConcurrency"], 3);
    let path = format!("/api/v1/admin/keys/{id}/leases");
    let (status, body) = app.admin(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let mut listed: Vec<String> = body["leases"]
        .as_array()
        .expect("leases")
        .iter()
        .map(|l| {
            assert!(instant(&l["expiresAt"]) > Utc::now());
            l["id"].as_str().expect("id").to_string()
        })
        .collect();
    listed.sort();
    taken.sort();
    assert_eq!(listed, taken);

    let (status, body) = app.admin(Method::DELETE, &path, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"released": 3})));
    assert_eq!(app.get_key(&id).await["currentConcurrency"], 0);
    let (_, body) = app.admin(Method::GET, &path, None).await;
    assert_eq!(body, json!({"leases": []}));

    // A concurrency-limited key whose slots a crashed relay holds gets them back.
    let (limited, limited_secret) = app
        .create_key(json!({"name": "c", "concurrencyLimit": 1}))
        .await;
    assert_eq!(app.admit(&limited_secret).await.0, StatusCode::OK);
    assert_eq!(
        app.admit(&limited_secret).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        app.get_key(&limited).await["limitedBy"],
        "concurrency_limit"
    );
    let (_, body) = app
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/keys/{limited}/leases"),
            None,
        )
        .await;
    assert_eq!(body["released"], 1);
    assert_eq!(app.admit(&limited_secret).await.0, StatusCode::OK);

    let unknown = "/api/v1/admin/keys/00000000-0000-4000-8000-000000000000/leases";
    assert_eq!(
        app.admin(Method::GET, unknown, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.admin(Method::DELETE, unknown, None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn extend_counts_from_the_later_of_now_and_the_expiry_and_can_enable() {
    let app = TestApp::spawn().await;
    let later = Utc::now() + Duration::days(10);
    let (id, _) = app
        .create_key(json!({"name": "e", "expiresAt": later.to_rfc3339(), "isActive": false}))
        .await;
    let path = format!("/api/v1/admin/keys/{id}/extend");
    let (status, body) = app
        .admin(Method::POST, &path, Some(json!({"days": 30})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let extended = instant(&body["key"]["expiresAt"]);
    let expected = later + Duration::days(30);
    assert!(
        (extended - expected).num_milliseconds().abs() < 1000,
        "{extended} vs {expected}"
    );
    assert_eq!(body["key"]["isActive"], false, "not enabled unless asked");

    // Two extends at once both count.
    let (a, b) = tokio::join!(
        app.admin(Method::POST, &path, Some(json!({"days": 1}))),
        app.admin(Method::POST, &path, Some(json!({"days": 1})))
    );
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK));
    let after = instant(&app.get_key(&id).await["expiresAt"]);
    assert!(
        (after - (expected + Duration::days(2)))
            .num_milliseconds()
            .abs()
            < 1000
    );

    let until = Utc::now() + Duration::days(400);
    let (status, body) = app
        .admin(
            Method::POST,
            &path,
            Some(json!({"expiresAt": until.to_rfc3339(), "enable": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key"]["isActive"], true);
    assert!(
        (instant(&body["key"]["expiresAt"]) - until)
            .num_milliseconds()
            .abs()
            < 1000
    );

    // An expired key extends from now, not from its old expiry.
    let soon = crate::support::expires_soon();
    let (old, old_secret) = app
        .create_key(json!({"name": "x", "expiresAt": soon.at}))
        .await;
    soon.passed().await;
    assert_eq!(app.get_key(&old).await["limitedBy"], "expired");
    let (_, body) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/keys/{old}/extend"),
            Some(json!({"days": 1})),
        )
        .await;
    let renewed = instant(&body["key"]["expiresAt"]);
    assert!(
        (renewed - (Utc::now() + Duration::days(1)))
            .num_seconds()
            .abs()
            < 5
    );
    assert_eq!(
        app.verify(json!({"key": old_secret})).await.0,
        StatusCode::OK
    );

    for bad in [
        json!({}),
        json!({"days": 0}),
        json!({"days": 1, "expiresAt": "2999-01-01T00:00:00Z"}),
        json!({"expiresAt": "2001-01-01T00:00:00Z"}),
        json!({"expiresAt": "soon"}),
    ] {
        let (status, reply) = app.admin(Method::POST, &path, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {reply}");
    }
    let (activation, _) = app
        .create_key(json!({"name": "a", "expirationMode": "activation", "activationDays": 2}))
        .await;
    let (status, reply) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/keys/{activation}/extend"),
            Some(json!({"days": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
}

#[tokio::test]
async fn keys_show_live_costs_and_what_limits_them() {
    let app = TestApp::spawn().await;
    let (id, _) = app
        .create_key(json!({"name": "d", "dailyCostLimit": 0.01, "totalCostLimit": 0.005}))
        .await;
    let key = app.get_key(&id).await;
    assert_eq!(key["limitedBy"], Value::Null);
    for field in [
        "weeklyCost",
        "monthlyCost",
        "totalCost",
        "currentWindowCost",
    ] {
        assert_eq!(key[field], 0.0, "{field}");
    }
    let (status, _) = app
        .record_usage(json!({"keyId": id, "model": "claude-sonnet-4-5",
                             "usage": {"input_tokens": 2000, "output_tokens": 0}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let key = app.get_key(&id).await;
    assert_eq!(key["limitedBy"], "total_cost_limit", "{key}");
    assert_eq!(key["totalCost"], 0.006);
    let (_, list) = app.admin(Method::GET, "/api/v1/admin/keys", None).await;
    assert_eq!(list["keys"][0]["limitedBy"], "total_cost_limit");
    // Disabled wins, as in verify.
    app.admin(
        Method::PATCH,
        &format!("/api/v1/admin/keys/{id}"),
        Some(json!({"isActive": false})),
    )
    .await;
    assert_eq!(app.get_key(&id).await["limitedBy"], "disabled");
}
