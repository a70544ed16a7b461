//! Listing: paging, search, tag and status filters, sorting, query validation.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::app::ADMIN_TOKEN;
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

/// `(total, names)` of a list page read from another instance.
async fn names_on(app: &TestApp, base: &str, query: &str) -> (u64, Vec<String>) {
    let response = app
        .http
        .get(format!("{base}/api/v1/admin/keys?{query}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("list sent");
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    let body: Value = response.json().await.expect("json");
    let names = body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["name"].as_str().expect("name").to_string())
        .collect();
    (body["total"].as_u64().expect("total"), names)
}

/// Polls another instance's list until it shows `expected` (the listing index follows a
/// change stream), failing after a deadline rather than sleeping and hoping.
async fn wait_for_list(app: &TestApp, base: &str, query: &str, expected: (u64, Vec<&str>)) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (total, names) = names_on(app, base, query).await;
        if total == expected.0 && names == expected.1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{query}: still ({total}, {names:?}), expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn another_instance_lists_creates_renames_tags_disables_and_deletes() {
    let app = TestApp::spawn().await;
    let second = app.second_instance();
    let other = second.url("");
    // Read once, so the second instance's index is loaded before the writes.
    assert_eq!(names_on(&app, &other, "").await.0, 0);

    let (first, _) = app
        .create_key(json!({"name": "First one", "tags": ["blue"]}))
        .await;
    let (second_id, _) = app.create_key(json!({"name": "second"})).await;
    wait_for_list(&app, &other, "sort=name", (2, vec!["First one", "second"])).await;
    wait_for_list(&app, &other, "tag=blue", (1, vec!["First one"])).await;

    let patch = |id: &str, body: Value| {
        let path = format!("/api/v1/admin/keys/{id}");
        let app = &app;
        async move {
            let (status, _) = app.admin(Method::PATCH, &path, Some(body)).await;
            assert_eq!(status, StatusCode::OK);
        }
    };
    patch(&first, json!({"name": "renamed", "tags": ["green"]})).await;
    patch(&second_id, json!({"isActive": false})).await;
    wait_for_list(&app, &other, "q=renam", (1, vec!["renamed"])).await;
    wait_for_list(&app, &other, "tag=blue", (0, vec![])).await;
    wait_for_list(&app, &other, "tag=green", (1, vec!["renamed"])).await;
    wait_for_list(&app, &other, "status=disabled", (1, vec!["second"])).await;
    wait_for_list(&app, &other, "status=active", (1, vec!["renamed"])).await;

    // Usage recorded through the first instance moves the second's cost and last-use orders.
    let usage = json!({"keyId": second_id, "model": "claude-sonnet-4-5",
                       "usage": {"input_tokens": 100, "output_tokens": 0}});
    assert_eq!(app.record_usage(usage).await.0, StatusCode::OK);
    wait_for_list(
        &app,
        &other,
        "sort=dailyCost&order=desc",
        (2, vec!["second", "renamed"]),
    )
    .await;
    wait_for_list(
        &app,
        &other,
        "sort=lastUsedAt&order=desc",
        (2, vec!["second", "renamed"]),
    )
    .await;

    let (status, _) = app
        .admin(Method::DELETE, &format!("/api/v1/admin/keys/{first}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    wait_for_list(&app, &other, "", (1, vec!["second"])).await;
    wait_for_list(&app, &other, "status=deleted", (1, vec!["renamed"])).await;
}

#[tokio::test]
async fn a_restarted_instance_lists_every_key_as_it_is() {
    let app = TestApp::spawn().await;
    for n in 1..=30 {
        let tags = if n % 3 == 0 {
            json!(["third"])
        } else {
            json!([])
        };
        app.create_key(json!({"name": format!("key {n:02}"), "tags": tags}))
            .await;
    }
    let mut second = app.second_instance();
    let expected_third: Vec<String> = (1..=30)
        .filter(|n| n % 3 == 0)
        .map(|n| format!("key {n:02}"))
        .collect();
    let third: Vec<&str> = expected_third.iter().map(String::as_str).collect();
    wait_for_list(
        &app,
        &second.url(""),
        "tag=third&sort=name",
        (10, third.clone()),
    )
    .await;
    assert!(second.terminate(), "the second instance stops cleanly");

    // Changes while it is down, then a fresh start loads them.
    let (id, _) = app
        .create_key(json!({"name": "key 31", "tags": ["third"]}))
        .await;
    app.admin(
        Method::PATCH,
        &format!("/api/v1/admin/keys/{id}"),
        Some(json!({"isActive": false})),
    )
    .await;
    let restarted = app.second_instance();
    let mut with_new = third.clone();
    with_new.push("key 31");
    wait_for_list(
        &app,
        &restarted.url(""),
        "tag=third&sort=name",
        (11, with_new),
    )
    .await;
    wait_for_list(
        &app,
        &restarted.url(""),
        "status=disabled",
        (1, vec!["key 31"]),
    )
    .await;
    wait_for_list(
        &app,
        &restarted.url(""),
        "q=key 0&perPage=3&sort=name&order=desc",
        (9, vec!["key 09", "key 08", "key 07"]),
    )
    .await;
}

/// An installation of the release before the previous one kept a key's index entries in four
/// hashes (revision, name, tags, accounts) and its creation time in a sorted set, where this
/// one keeps one row: such a key is listed as it is, and its next change moves it to its row
/// and unbinds its old account.
#[tokio::test]
async fn an_index_of_the_release_before_the_previous_one_is_listed_and_moved_on_the_next_change() {
    let app = TestApp::spawn().await;
    let (id, _) = app
        .create_key(json!({"name": "Old Layout", "tags": ["old"], "claudeAccountId": "acct-old"}))
        .await;
    let row = app.redis.cli(&["HGET", "kw:{idx}:rows", &id]);
    let (revision, created_ms) = row
        .split('\t')
        .next()
        .and_then(|head| head.split_once(':'))
        .expect("a revision and a creation time");
    let (revision, created_ms) = (revision.to_string(), created_ms.to_string());
    app.redis.cli(&["HDEL", "kw:{idx}:rows", &id]);
    app.redis
        .cli(&["ZADD", "kw:{idx}:created", &created_ms, &id]);
    app.redis.cli(&["HSET", "kw:{idx}:rev", &id, &revision]);
    app.redis
        .cli(&["HSET", "kw:{idx}:names", &id, "old layout"]);
    app.redis
        .cli(&["HSET", "kw:{idx}:keytags", &id, r#"["old"]"#]);
    app.redis
        .cli(&["HSET", "kw:{idx}:keyaccounts", &id, r#"["acct-old"]"#]);

    let mut second = app.second_instance();
    wait_for_list(&app, &second.url(""), "tag=old", (1, vec!["Old Layout"])).await;
    wait_for_list(&app, &second.url(""), "q=layout", (1, vec!["Old Layout"])).await;
    assert!(second.terminate(), "the second instance stops cleanly");

    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{id}"),
            Some(json!({"tags": ["new"], "claudeAccountId": "acct-new"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for legacy in [
        "kw:{idx}:rev",
        "kw:{idx}:names",
        "kw:{idx}:keytags",
        "kw:{idx}:keyaccounts",
    ] {
        assert_eq!(
            app.redis.cli(&["HEXISTS", legacy, &id]).trim(),
            "0",
            "{legacy}"
        );
    }
    assert!(app
        .redis
        .cli(&["HGET", "kw:{idx}:rows", &id])
        .contains(&format!(
            ":{created_ms}\told layout\t[\"new\"]\t[\"acct-new\"]"
        )));
    assert_eq!(app.redis.cli(&["EXISTS", "kw:{idx}:created"]).trim(), "0");
    let member = |account: &str| {
        app.redis
            .cli(&[
                "SISMEMBER",
                &format!("kw:{{idx}}:accountkeys:{account}"),
                &id,
            ])
            .trim()
            .to_string()
    };
    assert_eq!(member("acct-old"), "0");
    assert_eq!(member("acct-new"), "1");
    let restarted = app.second_instance();
    wait_for_list(&app, &restarted.url(""), "tag=new", (1, vec!["Old Layout"])).await;
    wait_for_list(&app, &restarted.url(""), "tag=old", (0, vec![])).await;
}

/// Rewrites a key as the previous release stored it, made at `created_ms`: its row without the
/// creation time (kept in the `kw:{idx}:created` sorted set instead), the id of its creation's
/// audit entry in the `kw:{audit}:created` hash instead of its record, and `updatedAt` written
/// out.
pub(crate) fn store_as_previous_release(app: &TestApp, id: &str, created_ms: i64) {
    let record = format!("kw:{{k:{id}}}:key");
    let row = app.redis.cli(&["HGET", "kw:{idx}:rows", id]);
    let (head, rest) = row.trim_end_matches('\n').split_once('\t').expect("a row");
    let (revision, _) = head.split_once(':').expect("a row of this release");
    app.redis
        .cli(&["HSET", "kw:{idx}:rows", id, &format!("{revision}\t{rest}")]);
    let created = created_ms.to_string();
    app.redis.cli(&["ZADD", "kw:{idx}:created", &created, id]);
    app.redis.cli(&[
        "HSET",
        &record,
        "createdAt",
        &created,
        "updatedAt",
        &created,
    ]);
    let entry = app.redis.cli(&["HGET", &record, "creationAuditId"]);
    assert!(!entry.trim().is_empty(), "the creation's audit id is kept");
    app.redis.cli(&["HDEL", &record, "creationAuditId"]);
    app.redis
        .cli(&["HSET", "kw:{audit}:created", id, entry.trim()]);
}

/// The previous release kept each key's creation time in a sorted set beside its row: its keys
/// are listed at that time, in order with this release's keys; a usage record, a soft delete
/// and a restore work on them; their next change moves them to the new row.
#[tokio::test]
async fn keys_of_the_previous_release_are_listed_by_creation_time_and_moved_on_their_next_change() {
    let app = TestApp::spawn().await;
    let (_, _) = app
        .create_key(json!({"name": "new one", "tags": ["t"]}))
        .await;
    let (mut older, _) = app
        .create_key(json!({"name": "Older", "tags": ["t"], "claudeAccountId": "acct-1"}))
        .await;
    let (mut oldest, _) = app
        .create_key(json!({"name": "Older", "tags": ["t"], "claudeAccountId": "acct-1"}))
        .await;
    // The older one has the smaller id, so an order that missed the creation times (ties
    // broken by id) would show.
    if older > oldest {
        std::mem::swap(&mut older, &mut oldest);
    }
    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{oldest}"),
            Some(json!({"name": "oldest", "claudeAccountId": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Made on 1 and 2 March 2024.
    store_as_previous_release(&app, &oldest, 1_709_251_200_000);
    store_as_previous_release(&app, &older, 1_709_337_600_000);

    let second = app.second_instance();
    let by_age = (3, vec!["oldest", "Older", "new one"]);
    wait_for_list(
        &app,
        &second.url(""),
        "sort=createdAt&order=asc",
        by_age.clone(),
    )
    .await;
    wait_for_list(
        &app,
        &second.url(""),
        "sort=createdAt&order=desc",
        (3, vec!["new one", "Older", "oldest"]),
    )
    .await;
    let key = app.get_key(&oldest).await;
    assert_eq!(key["createdAt"], "2024-03-01T00:00:00.000Z");
    assert_eq!(key["updatedAt"], "2024-03-01T00:00:00.000Z");

    // Used: indexed as it is.
    let usage = json!({"keyId": older, "accountId": "acct-1", "model": "claude-sonnet-4-5",
                       "usage": {"input_tokens": 5, "output_tokens": 5}});
    assert_eq!(app.record_usage(usage).await.0, StatusCode::OK);
    wait_for_list(
        &app,
        &second.url(""),
        "sort=lastUsedAt&order=desc&perPage=1",
        (3, vec!["Older"]),
    )
    .await;

    // Changed: moved to the new row, at its creation time.
    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{older}"),
            Some(json!({"tags": ["t", "moved"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let row = app.redis.cli(&["HGET", "kw:{idx}:rows", &older]);
    assert!(
        row.contains(":1709337600000\tolder\t[\"t\",\"moved\"]\t[\"acct-1\"]"),
        "{row}"
    );
    assert_eq!(
        app.redis
            .cli(&["ZSCORE", "kw:{idx}:created", &older])
            .trim(),
        ""
    );

    // Deleted and restored: out of the old index, back in the new row.
    let path = format!("/api/v1/admin/keys/{oldest}");
    assert_eq!(
        app.admin(Method::DELETE, &path, None).await.0,
        StatusCode::NO_CONTENT
    );
    wait_for_list(
        &app,
        &second.url(""),
        "sort=createdAt&order=asc",
        (2, vec!["Older", "new one"]),
    )
    .await;
    assert_eq!(app.redis.cli(&["EXISTS", "kw:{idx}:created"]).trim(), "0");
    assert_eq!(
        app.admin(Method::POST, &format!("{path}/restore"), None)
            .await
            .0,
        StatusCode::OK
    );
    assert!(app
        .redis
        .cli(&["HGET", "kw:{idx}:rows", &oldest])
        .contains(":1709251200000\toldest\t"));

    let mut restarted = app.second_instance();
    wait_for_list(&app, &restarted.url(""), "sort=createdAt&order=asc", by_age).await;
    wait_for_list(&app, &restarted.url(""), "tag=moved", (1, vec!["Older"])).await;
    assert!(
        restarted.terminate(),
        "the restarted instance stops cleanly"
    );
}

/// A key of this release keeps its creation time in its row and its creation's audit id in its
/// record: the index has no creation-time set, and the audit log no hash of creations. Its
/// record still has `updatedAt`, which the previous release's readers require (both releases
/// share one Redis during a rolling upgrade).
#[tokio::test]
async fn a_new_key_is_indexed_by_its_row_alone() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "lean", "tags": ["t"]})).await;
    let key = app.get_key(&id).await;
    assert_eq!(key["updatedAt"], key["createdAt"]);
    let record = format!("kw:{{k:{id}}}:key");
    assert_eq!(
        app.redis.cli(&["HGET", &record, "updatedAt"]),
        app.redis.cli(&["HGET", &record, "createdAt"])
    );
    assert!(!app
        .redis
        .cli(&["HGET", &record, "creationAuditId"])
        .trim()
        .is_empty());
    for gone in ["kw:{idx}:created", "kw:{audit}:created"] {
        assert_eq!(app.redis.cli(&["EXISTS", gone]).trim(), "0", "{gone}");
    }
    let created_ms = app.redis.cli(&["HGET", &record, "createdAt"]);
    assert!(app
        .redis
        .cli(&["HGET", "kw:{idx}:rows", &id])
        .starts_with(&format!("1:{}\tlean\t", created_ms.trim())));
    // Changed: `updatedAt` says when.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{id}"),
            Some(json!({"description": "now changed"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.redis.cli(&["HEXISTS", &record, "updatedAt"]).trim(),
        "1"
    );
    assert_ne!(app.get_key(&id).await["updatedAt"], key["createdAt"]);
}
