//! What every engine test needs: an engine on a temp data dir with the sandbox processor and
//! a frozen test clock, and builders for links and subscriptions.
#![allow(dead_code)]

use premia::domain::{
    Customer, Environment, InstallmentPlan, LinkRecord, NewLink, NewSubscription, ObjectId,
    PaymentType, SubscriptionRecord,
};
use premia::{Engine, EngineConfig, Processors, Sandbox, Store, TestClock};
use state_machines::{Cents, Dunning, Interval, OnExhausted, Timestamp};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const ENV: Environment = Environment::Test;
pub const DAY: u64 = 86_400;
/// 2025-01-31T10:00:00Z: a month end, so monthly billing must clamp.
pub const START: Timestamp = Timestamp::from_millis(1_738_317_600_000);

pub fn config() -> EngineConfig {
    EngineConfig {
        passivate_after: Duration::from_secs(300),
        max_resident: 10_000,
        link_lifetime: Some(Duration::from_secs(30 * DAY)),
        dunning: Dunning {
            retry_after_secs: vec![DAY, 3 * DAY],
            on_exhausted: OnExhausted::Cancel,
        },
        firing_concurrency: 256,
        max_mailbox: 4096,
    }
}

pub struct TestEngine {
    pub engine: Engine,
    pub sandbox: Arc<Sandbox>,
    pub dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl TestEngine {
    pub async fn start() -> TestEngine {
        let temp = tempfile::tempdir().unwrap();
        let mut t = TestEngine::open(temp.path(), config()).await;
        t._temp = Some(temp);
        t
    }

    /// An engine on an existing data dir (a restart), with a clock frozen at `START`.
    pub async fn open(dir: &Path, config: EngineConfig) -> TestEngine {
        let sandbox = Arc::new(Sandbox::new());
        let processors = Processors {
            test: sandbox.clone(),
            live: sandbox.clone(),
        };
        let store = Store::open(dir).unwrap();
        let engine = Engine::start(
            store,
            config,
            processors,
            Arc::new(TestClock::frozen(START)),
        )
        .await
        .unwrap();
        TestEngine {
            engine,
            sandbox,
            dir: dir.to_path_buf(),
            _temp: None,
        }
    }

    /// Shut down cleanly and start again on the same data dir.
    pub async fn restart(mut self) -> TestEngine {
        self.engine.shutdown().await.unwrap();
        let temp = self._temp.take();
        drop(self.engine);
        let mut t = TestEngine::open(&self.dir, config()).await;
        t._temp = temp;
        t
    }

    pub async fn link(&self, amount: u64) -> LinkRecord {
        self.engine
            .create_link(ENV, new_link(amount, None))
            .await
            .unwrap()
    }

    pub async fn paid_link(&self, amount: u64) -> LinkRecord {
        let link = self.link(amount).await;
        self.engine
            .pay_link(ENV, link.id, premia::PaymentSource::OnFile)
            .await
            .unwrap()
    }

    pub async fn reload_link(&self, id: ObjectId) -> LinkRecord {
        self.engine
            .link(ENV, id)
            .await
            .unwrap()
            .expect("link exists")
    }

    pub async fn reload_subscription(&self, id: ObjectId) -> SubscriptionRecord {
        self.engine
            .subscription(ENV, id)
            .await
            .unwrap()
            .expect("subscription exists")
    }
}

pub fn cents(v: u64) -> Cents {
    Cents::positive(v as i128).unwrap()
}

pub fn id() -> ObjectId {
    ObjectId::new(START.millis())
}

pub fn new_link(amount: u64, plan: Option<(u32, u64)>) -> NewLink {
    NewLink {
        carrier_id: "680abc456def789012345678".parse().unwrap(),
        employer_id: "681abc789abc123456789012".parse().unwrap(),
        policy_id: "682def789abc012345678901".parse().unwrap(),
        amount: cents(amount),
        payment_type: PaymentType::DownPayment,
        premium_cents: None,
        fee_cents: None,
        customer: Customer {
            name: Some("Smith Industries".into()),
            email: Some("billing@smith.example".into()),
            phone: None,
        },
        installment_plan: plan.map(|(count, per)| InstallmentPlan {
            count,
            interval: Interval::Monthly,
            per_installment_cents: cents(per),
        }),
        metadata: BTreeMap::new(),
        expires_at: None,
    }
}

pub fn new_subscription(
    amount: u64,
    count: Option<u32>,
    first_billing_at: Option<Timestamp>,
) -> NewSubscription {
    NewSubscription {
        carrier_id: "680abc456def789012345678".parse().unwrap(),
        employer_id: "681abc789abc123456789012".parse().unwrap(),
        policy_id: "682def789abc012345678901".parse().unwrap(),
        amount: cents(amount),
        interval: Interval::Monthly,
        count,
        customer: Customer {
            name: None,
            email: Some("billing@acme.example".into()),
            phone: None,
        },
        metadata: BTreeMap::new(),
        first_billing_at,
    }
}
