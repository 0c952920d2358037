//! A data dir written before the composite (owner · status) index entries and the index
//! counts existed gets both when the store opens, and `premia check` finds it clean.

mod support;

use premia::check::check;
use premia::PaymentSource;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_from_before_the_counts_gets_them_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let t = TestEngine::open(dir.path(), config()).await;
        let e = &t.engine;
        for i in 0..6 {
            let link = e.create_link(ENV, new_link(10_000, None)).await.unwrap();
            if i % 2 == 0 {
                e.pay_link(ENV, link.id, PaymentSource::OnFile)
                    .await
                    .unwrap();
            }
        }
        e.create_subscription(ENV, new_subscription(2_500, Some(2), None))
            .await
            .unwrap();
        e.shutdown().await.unwrap();
    }
    // Take the store back to the old layout: no composite entries, no counts, no marker.
    {
        let db = sled::open(dir.path()).unwrap();
        let indexes = db.open_tree("indexes").unwrap();
        let composite: Vec<_> = indexes
            .iter()
            .keys()
            .map(|k| k.unwrap())
            .filter(|k| k[2] == b'C' || k[2] == b'E')
            .collect();
        assert_eq!(composite.len(), 2 * 7, "two composite entries per record");
        for k in composite {
            indexes.remove(k).unwrap();
        }
        db.open_tree("index_counts").unwrap().clear().unwrap();
        db.open_tree("meta")
            .unwrap()
            .remove("index_layout")
            .unwrap();
        db.flush().unwrap();
    }
    let store = premia::Store::open(dir.path()).unwrap();
    let report = check(&store).unwrap();
    assert!(report.is_clean(), "{:#?}", report.violations);
    assert_eq!(report.links, 6);
}
