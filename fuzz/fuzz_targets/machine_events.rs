//! Arbitrary event sequences against every machine: after each step the invariants hold, a
//! rejected event changed nothing, and a snapshot restores to an equal machine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use state_machines::*;

fn cents(v: u8) -> Cents {
    Cents::try_from(v as u64 * 1_000).unwrap()
}

fn check<M: PartialEq + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned>(m: &M) {
    let json = serde_json::to_string(m).unwrap();
    let back: M = serde_json::from_str(&json).expect("a snapshot restores");
    assert_eq!(&back, m);
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let mut link = PaymentLink::new(cents(first.max(1)), Some(Timestamp::from_millis(50_000)), first % 2 == 0);
    let (mut sub, _) = Subscription::new(SubscriptionTerms {
        amount: cents(first.max(1)),
        interval: if first % 3 == 0 { Interval::Quarterly } else { Interval::Monthly },
        count: (first % 5 != 0).then_some(first as u32 % 7 + 1),
        anchor: Timestamp::from_millis(1_738_317_600_000),
        dunning: Dunning {
            retry_after_secs: vec![3_600; first as usize % 4],
            on_exhausted: if first % 2 == 0 { OnExhausted::Cancel } else { OnExhausted::KeepPastDue },
        },
    });
    let mut payment = Payment::new(cents(first.max(1)));
    for (i, pair) in rest.chunks(2).enumerate() {
        let (op, arg) = (pair[0], *pair.get(1).unwrap_or(&0));
        let now = Timestamp::from_millis(1_738_317_600_000 + i as i64 * 40 * 86_400_000);
        let amount = Cents::try_from(arg as u64 * 100).unwrap();
        match op % 3 {
            0 => {
                let event = match op / 3 % 5 {
                    0 => LinkEvent::PaymentSucceeded { amount: cents(arg), now },
                    1 => LinkEvent::PaymentFailed { now },
                    2 => LinkEvent::Expire { now },
                    3 => LinkEvent::Cancel { now },
                    _ => LinkEvent::Refund { amount, now },
                };
                let before = link.clone();
                if link.handle(&event).is_err() {
                    assert_eq!(link, before);
                }
                link.check_invariants().unwrap();
                check(&link);
            }
            1 => {
                let cycle = sub.data().cycle + (arg % 3 == 0) as u32;
                let event = match op / 3 % 5 {
                    0 => SubscriptionEvent::InstallmentDue { cycle, now },
                    1 => SubscriptionEvent::InstallmentPaid { cycle, now },
                    2 => SubscriptionEvent::InstallmentFailed { cycle, now },
                    3 => SubscriptionEvent::RetryDue { cycle, attempt: sub.data().failed_attempts, now },
                    _ => SubscriptionEvent::Cancel { now },
                };
                let before = sub.clone();
                if sub.handle(&event).is_err() {
                    assert_eq!(sub, before);
                }
                sub.check_invariants().unwrap();
                // Only the engine persists, and never mid-charge.
                if !sub.data().charging {
                    check(&sub);
                }
            }
            _ => {
                let event = match op / 3 % 6 {
                    0 => PaymentEvent::Approve,
                    1 => PaymentEvent::Capture,
                    2 => PaymentEvent::Settle,
                    3 => PaymentEvent::Fail { reason: "declined".into() },
                    4 => PaymentEvent::Return { code: "R01".into() },
                    _ => PaymentEvent::Refund { amount },
                };
                let before = payment.clone();
                if payment.handle(&event).is_err() {
                    assert_eq!(payment, before);
                }
                payment.check_invariants().unwrap();
                check(&payment);
            }
        }
    }
});
