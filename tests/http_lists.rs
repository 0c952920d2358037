//! Lists answer the same whichever index serves them: every combination of carrier,
//! employer and status filters, with unrestricted and tenant-scoped keys, across pages, gives
//! exactly the records a scan of everything would (same total, same order, newest first).
//! Some combinations are counted from the composite index keys alone, others by loading
//! each candidate; this file holds them to one answer.

#[path = "support/http.rs"]
mod app;

use app::*;
use premia::auth::Scope;
use premia::domain::Environment;
use serde_json::json;

/// A created link and what a list filter sees of it.
struct Stored {
    id: String,
    carrier: &'static str,
    employer: &'static str,
    status: &'static str,
}

#[tokio::test(flavor = "multi_thread")]
async fn every_filter_combination_lists_what_a_full_scan_would() {
    // Our own data dir, so `premia check` can open it once the server has stopped.
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let app = TestApp::spawn_with(&[
        ("PREMIA_SERVER_RATE_LIMIT_PER_MINUTE", "1000000"),
        ("PREMIA_DATA_DIR", &data_dir),
    ])
    .await;
    let carriers = [CARRIER, OTHER_CARRIER];
    let employers = [EMPLOYER, OTHER_EMPLOYER];
    // Created oldest first; the lists answer newest first.
    let mut stored = Vec::new();
    for i in 0..12 {
        let (carrier, employer) = (carriers[i % 2], employers[(i / 2) % 2]);
        let mut body = link_body(10_000);
        body["carrier_id"] = json!(carrier);
        body["employer_id"] = json!(employer);
        let id = app.create_link(body).await;
        let status = match i % 4 {
            0 => {
                app.pay(&id).await;
                "completed"
            }
            1 => {
                app.delete(&format!("/payment-links/{id}"))
                    .await
                    .expect_status(200);
                "cancelled"
            }
            2 if i > 4 => {
                app.pay(&id).await;
                app.refund(&id, Some(1)).await.expect_status(200);
                "partially_refunded"
            }
            _ => "active",
        };
        stored.push(Stored {
            id,
            carrier,
            employer,
            status,
        });
    }
    stored.reverse();

    let scoped = |carriers: &[&'static str], employers: &[&'static str]| {
        let mut new = new_key(Environment::Test, Scope::Payments);
        new.carriers = carriers.iter().map(|c| object_id(c)).collect();
        new.employers = employers.iter().map(|e| object_id(e)).collect();
        new.rate_limit = Some(1_000_000);
        (carriers.to_vec(), employers.to_vec(), app.create_key(new))
    };
    let keys = [
        scoped(&[], &[]),
        scoped(&[CARRIER], &[]),
        scoped(&[], &[OTHER_EMPLOYER]),
        scoped(&[OTHER_CARRIER], &[EMPLOYER]),
    ];
    let statuses = [None, Some("active"), Some("completed"), Some("cancelled")];
    for (scope_carriers, scope_employers, key) in &keys {
        let allowed = |v: &str, scope: &[&str]| scope.is_empty() || scope.contains(&v);
        for carrier in [None, Some(CARRIER), Some(OTHER_CARRIER)] {
            for employer in [None, Some(EMPLOYER), Some(OTHER_EMPLOYER)] {
                if !carrier.is_none_or(|c| allowed(c, scope_carriers))
                    || !employer.is_none_or(|e| allowed(e, scope_employers))
                {
                    continue; // out of scope: 403, tested in http_auth
                }
                for status in statuses {
                    let expected: Vec<&str> = stored
                        .iter()
                        .filter(|l| {
                            carrier.is_none_or(|c| c == l.carrier)
                                && employer.is_none_or(|e| e == l.employer)
                                && status.is_none_or(|s| s == l.status)
                                && allowed(l.carrier, scope_carriers)
                                && allowed(l.employer, scope_employers)
                        })
                        .map(|l| l.id.as_str())
                        .collect();
                    let mut query = vec!["limit=2".to_string()];
                    query.extend(carrier.map(|c| format!("carrier_id={c}")));
                    query.extend(employer.map(|e| format!("employer_id={e}")));
                    query.extend(status.map(|s| format!("status={s}")));
                    for page in 1..=3u64 {
                        let path = format!("/payment-links?{}&page={page}", query.join("&"));
                        let got = app.with_key(key).get(&path).await.page();
                        let want: Vec<&str> = expected
                            .iter()
                            .skip(2 * (page as usize - 1))
                            .take(2)
                            .copied()
                            .collect();
                        assert_eq!(
                            got.ids, want,
                            "{path} with scope {scope_carriers:?} {scope_employers:?}"
                        );
                        assert_eq!(
                            got.total,
                            expected.len() as u64,
                            "total of {path} with scope {scope_carriers:?} {scope_employers:?}"
                        );
                        assert_eq!(got.total_pages, (expected.len() as u64).div_ceil(2));
                    }
                }
            }
        }
    }

    // The index entries and their counts are exactly what the records call for.
    app.stop().await;
    let store = premia::Store::open(dir.path()).unwrap();
    let report = premia::check::check(&store).unwrap();
    assert!(report.is_clean(), "{:?}", report.violations);
    assert_eq!(report.links, 12);
}
