//! Transition diagrams and tables, discovered from the machines themselves.
//!
//! Nothing here is written by hand: each machine starts fresh and a breadth-first search feeds
//! every state it reaches a fixed set of representative events (computed from the machine's
//! current data, e.g. "refund all that remains"), recording where each one leads. So the
//! README can never drift from the code: `tests/diagram.rs` fails when it does.
//!
//! Used for documentation only; the engine never calls it.

use crate::money::Cents;
use crate::payment::{self, Payment, PaymentEvent};
use crate::payment_link::{self, LinkEvent, PaymentLink};
use crate::subscription::{
    self, Dunning, Interval, OnExhausted, Subscription, SubscriptionEvent, SubscriptionTerms,
};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt::{Debug, Write};

/// Paths longer than this are not explored. Every state of every machine is reached within
/// four steps; the bound only stops loops that grow a counter (a link's failed attempts, a
/// payment's ever smaller partial refunds) from running forever.
const MAX_DEPTH: usize = 8;

/// The machines, in the order the README shows them.
pub const MACHINES: [&str; 3] = ["payment_link", "subscription", "payment"];

/// A machine the explorer can drive: its states, its labelled steps, and how to take one.
trait Explore: Clone + Debug + Sized {
    const TITLE: &'static str;
    /// What the exploration starts from, in words, for the README.
    const START: &'static str;
    const STATES: &'static [&'static str];
    const STEPS: &'static [&'static str];
    fn start() -> Self;
    fn name(&self) -> &'static str;
    fn is_terminal(&self) -> bool;
    /// Takes step `STEPS[i]` on a copy; `None` when the machine rejects any event in it.
    fn step(&self, i: usize) -> Option<Self>;
}

/// Every observed `(state, step) -> target` of one machine; a rejection is `None`.
struct Table {
    states: &'static [&'static str],
    steps: &'static [&'static str],
    initial: &'static str,
    terminal: BTreeSet<&'static str>,
    cells: BTreeMap<(usize, usize), BTreeSet<Option<usize>>>,
}

fn explore<M: Explore>() -> Table {
    let index = |name: &str| {
        M::STATES
            .iter()
            .position(|s| *s == name)
            .expect("state listed in ALL")
    };
    let start = M::start();
    let mut table = Table {
        states: M::STATES,
        steps: M::STEPS,
        initial: start.name(),
        terminal: BTreeSet::new(),
        cells: BTreeMap::new(),
    };
    // Machines are told apart by their full state and data: `Debug` shows both.
    let mut seen = HashSet::from([format!("{start:?}")]);
    let mut queue = VecDeque::from([(start, 0)]);
    while let Some((machine, depth)) = queue.pop_front() {
        let from = index(machine.name());
        if machine.is_terminal() {
            table.terminal.insert(machine.name());
        }
        if depth == MAX_DEPTH {
            continue;
        }
        for i in 0..M::STEPS.len() {
            let next = machine.step(i);
            table
                .cells
                .entry((from, i))
                .or_default()
                .insert(next.as_ref().map(|n| index(n.name())));
            if let Some(next) = next {
                if seen.insert(format!("{next:?}")) {
                    queue.push_back((next, depth + 1));
                }
            }
        }
    }
    table
}

impl Table {
    fn reached(&self, state: usize) -> bool {
        self.cells.keys().any(|(s, _)| *s == state)
    }

    /// Where `step` leads from `state`: target names (or "—" for rejected), in state order.
    fn cell(&self, state: usize, step: usize) -> String {
        let Some(targets) = self.cells.get(&(state, step)) else {
            return "—".into();
        };
        let names: Vec<&str> = targets
            .iter()
            .map(|t| t.map_or("—", |t| self.states[t]))
            .collect();
        names.join(" / ")
    }

    fn mermaid(&self) -> String {
        // One arrow per (from, to), labelled with every step that takes it, so parallel
        // arrows do not pile up on top of each other.
        let mut edges: BTreeMap<(usize, usize), Vec<&str>> = BTreeMap::new();
        for ((from, step), targets) in &self.cells {
            for to in targets.iter().flatten() {
                edges
                    .entry((*from, *to))
                    .or_default()
                    .push(self.steps[*step]);
            }
        }
        let mut out = String::from("stateDiagram-v2\n");
        writeln!(out, "    [*] --> {}", self.initial).unwrap();
        for ((from, to), labels) in &edges {
            writeln!(
                out,
                "    {} --> {} : {}",
                self.states[*from],
                self.states[*to],
                labels.join(", ")
            )
            .unwrap();
        }
        for state in self.states.iter().filter(|s| self.terminal.contains(*s)) {
            writeln!(out, "    {state} --> [*]").unwrap();
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = format!("| state | {} |\n", self.steps.join(" | "));
        writeln!(out, "|---|{}", "---|".repeat(self.steps.len())).unwrap();
        for (s, name) in self
            .states
            .iter()
            .enumerate()
            .filter(|(s, _)| self.reached(*s))
        {
            let cells: Vec<String> = (0..self.steps.len()).map(|i| self.cell(s, i)).collect();
            writeln!(out, "| {name} | {} |", cells.join(" | ")).unwrap();
        }
        out
    }
}

fn table(machine: &str) -> Option<(Table, &'static str, &'static str)> {
    Some(match machine {
        "payment_link" => (
            explore::<PaymentLink>(),
            PaymentLink::TITLE,
            PaymentLink::START,
        ),
        "subscription" => (
            explore::<Subscription>(),
            Subscription::TITLE,
            Subscription::START,
        ),
        "payment" => (explore::<Payment>(), Payment::TITLE, Payment::START),
        _ => return None,
    })
}

/// The Mermaid `stateDiagram-v2` of one of [`MACHINES`]; `None` for an unknown name.
pub fn mermaid(machine: &str) -> Option<String> {
    table(machine).map(|(t, ..)| t.mermaid())
}

/// The Markdown transition table (states × steps) of one of [`MACHINES`].
pub fn markdown_table(machine: &str) -> Option<String> {
    table(machine).map(|(t, ..)| t.markdown())
}

/// States of `machine` the exploration never reached (should be none).
pub fn unreached_states(machine: &str) -> Option<Vec<&'static str>> {
    table(machine).map(|(t, ..)| {
        (0..t.states.len())
            .filter(|s| !t.reached(*s))
            .map(|s| t.states[s])
            .collect()
    })
}

/// The whole of `state_machines/README.md`.
pub fn readme() -> String {
    let mut out = String::from(
        "# state_machines\n\
         \n\
         <!-- Generated by `state_machines::diagram::readme()`; do not edit by hand. Regenerate with\n\
         `UPDATE_DIAGRAMS=1 cargo test -p state_machines --test diagram`. -->\n\
         \n\
         Premia's pure state machines (statig, no I/O): a payment link, a subscription and a\n\
         payment. The diagrams and tables below are discovered from the machines themselves: each\n\
         starts fresh and a breadth-first search feeds every state it reaches a fixed set of\n\
         representative events, computed from the machine's current data. A cell names the state\n\
         a step leads to (several, split by `/`, when it depends on the data, e.g. on whether the\n\
         installment is the last one), or `—` when the machine rejects it, changing nothing.\n\
         \n\
         Property tests (`tests/*_props.rs`) check every machine against a small reference model\n\
         over random event sequences, valid and invalid. They run 256 cases per machine by default;\n\
         for a deep run set proptest's own `PROPTEST_CASES` (e.g. `PROPTEST_CASES=100000`) or\n\
         `PREMIA_DEEP=1` (10 000 cases and longer sequences):\n\
         `PREMIA_DEEP=1 cargo test -p state_machines --release`.\n",
    );
    for machine in MACHINES {
        let (table, title, start) = table(machine).expect("listed machine");
        write!(
            out,
            "\n## {title}\n\n{start}\n\n```mermaid\n{}```\n\n{}",
            table.mermaid(),
            table.markdown()
        )
        .unwrap();
    }
    out
}

fn part_of(remaining: Cents) -> Cents {
    Cents::positive((remaining.get() / 2).max(1) as i128).expect("small positive amount")
}

fn all_of(remaining: Cents) -> Cents {
    Cents::positive(remaining.get().max(1) as i128).expect("small positive amount")
}

impl Explore for PaymentLink {
    const TITLE: &'static str = "Payment link";
    const START: &'static str =
        "Explored from `PaymentLink::new(100000 cents, expires at 1000000 ms, with an \
                                 installment plan)`. `Refund (part)` refunds half of what remains, \
                                 `Refund (all)` all of it; `Expire` arrives after `expires_at`.";
    const STATES: &'static [&'static str] = &payment_link::LinkStatus::ALL;
    const STEPS: &'static [&'static str] = &[
        "PaymentSucceeded",
        "PaymentFailed",
        "Expire",
        "Cancel",
        "Refund (part)",
        "Refund (all)",
    ];

    fn start() -> Self {
        let amount = Cents::positive(100_000).expect("positive");
        PaymentLink::new(amount, Some(Timestamp::from_millis(1_000_000)), true)
    }

    fn name(&self) -> &'static str {
        self.state_name()
    }

    fn is_terminal(&self) -> bool {
        self.state().is_terminal()
    }

    fn step(&self, i: usize) -> Option<Self> {
        let d = self.data();
        let now = d
            .expires_at
            .map_or(Timestamp::from_millis(0), |at| at.plus_seconds(1));
        let event = match Self::STEPS[i] {
            "PaymentSucceeded" => LinkEvent::PaymentSucceeded {
                amount: d.amount,
                now,
            },
            "PaymentFailed" => LinkEvent::PaymentFailed { now },
            "Expire" => LinkEvent::Expire { now },
            "Cancel" => LinkEvent::Cancel { now },
            "Refund (part)" => LinkEvent::Refund {
                amount: part_of(self.refundable()),
                now,
            },
            _ => LinkEvent::Refund {
                amount: all_of(self.refundable()),
                now,
            },
        };
        let mut next = self.clone();
        next.handle(&event).ok().map(|_| next)
    }
}

impl Explore for Subscription {
    const TITLE: &'static str = "Subscription";
    const START: &'static str = "Explored from a monthly subscription of 2 installments with dunning \
                                 retries after 1 h and 2 h, cancelled when they are exhausted. A charge \
                                 takes two events (`InstallmentDue` or `RetryDue` asks for it, \
                                 `InstallmentPaid` or `InstallmentFailed` reports it, for the cycle being \
                                 billed), shown as one step; each arrives when it is due.";
    const STATES: &'static [&'static str] = &subscription::SubscriptionStatus::ALL;
    const STEPS: &'static [&'static str] = &[
        "InstallmentDue → InstallmentPaid",
        "InstallmentDue → InstallmentFailed",
        "RetryDue → InstallmentPaid",
        "RetryDue → InstallmentFailed",
        "Cancel",
    ];

    fn start() -> Self {
        let terms = SubscriptionTerms {
            amount: Cents::positive(25_000).expect("positive"),
            interval: Interval::Monthly,
            count: Some(2),
            // 2025-01-31T09:00:00Z: a month end, so the calendar clamps.
            anchor: Timestamp::from_millis(1_738_314_000_000),
            dunning: Dunning {
                retry_after_secs: vec![3600, 7200],
                on_exhausted: OnExhausted::Cancel,
            },
        };
        Subscription::new(terms).0
    }

    fn name(&self) -> &'static str {
        self.state_name()
    }

    fn is_terminal(&self) -> bool {
        self.state().is_terminal()
    }

    fn step(&self, i: usize) -> Option<Self> {
        let d = self.data();
        let cycle = d.cycle;
        let due = d.next_billing_at.unwrap_or(d.terms.anchor);
        // A retry runs after the longest dunning delay, so it is always due.
        let retry_at = due.plus_seconds(d.terms.dunning.retry_after_secs.iter().sum());
        let attempt = d.failed_attempts;
        let events = match Self::STEPS[i] {
            "InstallmentDue → InstallmentPaid" => vec![
                SubscriptionEvent::InstallmentDue { cycle, now: due },
                SubscriptionEvent::InstallmentPaid { cycle, now: due },
            ],
            "InstallmentDue → InstallmentFailed" => vec![
                SubscriptionEvent::InstallmentDue { cycle, now: due },
                SubscriptionEvent::InstallmentFailed { cycle, now: due },
            ],
            "RetryDue → InstallmentPaid" => vec![
                SubscriptionEvent::RetryDue {
                    cycle,
                    attempt,
                    now: retry_at,
                },
                SubscriptionEvent::InstallmentPaid {
                    cycle,
                    now: retry_at,
                },
            ],
            "RetryDue → InstallmentFailed" => vec![
                SubscriptionEvent::RetryDue {
                    cycle,
                    attempt,
                    now: retry_at,
                },
                SubscriptionEvent::InstallmentFailed {
                    cycle,
                    now: retry_at,
                },
            ],
            _ => vec![SubscriptionEvent::Cancel { now: due }],
        };
        let mut next = self.clone();
        events
            .iter()
            .all(|e| next.handle(e).is_ok())
            .then_some(next)
    }
}

impl Explore for Payment {
    const TITLE: &'static str = "Payment";
    const START: &'static str = "Explored from `Payment::new(100000 cents)`. `Refund (part)` refunds half \
                                 of what remains, `Refund (all)` all of it; `Return` carries ACH code R01.";
    const STATES: &'static [&'static str] = &payment::PaymentStatus::ALL;
    const STEPS: &'static [&'static str] = &[
        "Approve",
        "Capture",
        "Settle",
        "Fail",
        "Return",
        "Refund (part)",
        "Refund (all)",
    ];

    fn start() -> Self {
        Payment::new(Cents::positive(100_000).expect("positive"))
    }

    fn name(&self) -> &'static str {
        self.state_name()
    }

    fn is_terminal(&self) -> bool {
        self.state().is_terminal()
    }

    fn step(&self, i: usize) -> Option<Self> {
        let d = self.data();
        let remaining = d.amount.checked_sub(d.refunded).unwrap_or(Cents::ZERO);
        let event = match Self::STEPS[i] {
            "Approve" => PaymentEvent::Approve,
            "Capture" => PaymentEvent::Capture,
            "Settle" => PaymentEvent::Settle,
            "Fail" => PaymentEvent::Fail {
                reason: "card_declined".into(),
            },
            "Return" => PaymentEvent::Return { code: "R01".into() },
            "Refund (part)" => PaymentEvent::Refund {
                amount: part_of(remaining),
            },
            _ => PaymentEvent::Refund {
                amount: all_of(remaining),
            },
        };
        let mut next = self.clone();
        next.handle(&event).ok().map(|_| next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_of_every_machine_is_reached() {
        for machine in MACHINES {
            assert_eq!(unreached_states(machine), Some(vec![]), "{machine}");
        }
    }

    #[test]
    fn terminal_states_reject_every_step() {
        for machine in MACHINES {
            let (table, ..) = table(machine).unwrap();
            for ((state, _), targets) in &table.cells {
                if table.terminal.contains(table.states[*state]) {
                    assert_eq!(
                        targets,
                        &BTreeSet::from([None]),
                        "{machine} {}",
                        table.states[*state]
                    );
                }
            }
        }
    }

    #[test]
    fn output_is_deterministic() {
        assert_eq!(readme(), readme());
    }
}
