//! The wrapper every machine shares: feed an event, get effects or a `Rejected`; check
//! invariants; serialise and restore exactly.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use statig::blocking::{
    InitializedStateMachine, IntoStateMachine, IntoStateMachineExt, State, Superstate,
    UninitializedStateMachine,
};
use std::fmt;

/// An event the machine refused in its current state. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Rejected {
    pub machine: &'static str,
    pub state: &'static str,
    pub event: &'static str,
    /// Why, when the event is allowed in this state but not with these values.
    pub reason: Option<&'static str>,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not allowed for a {} that is {}",
            self.event, self.machine, self.state
        )?;
        if let Some(reason) = self.reason {
            write!(f, ": {reason}")?;
        }
        Ok(())
    }
}

/// A broken invariant: a bug, never a client error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{machine} in state {state} breaks an invariant: {what}")]
pub struct InvariantViolation {
    pub machine: &'static str,
    pub state: &'static str,
    pub what: String,
}

/// The external context of every handler: handlers record their verdict and push effects
/// here; the wrapper drains it. Never persisted.
#[derive(Debug)]
pub struct Decision<E> {
    verdict: Verdict,
    effects: Vec<E>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Unhandled,
    Accepted,
    Refused(&'static str),
}

impl<E> Default for Decision<E> {
    fn default() -> Self {
        Decision {
            verdict: Verdict::Unhandled,
            effects: Vec::new(),
        }
    }
}

impl<E> Decision<E> {
    pub(crate) fn accept(&mut self) {
        self.verdict = Verdict::Accepted;
    }

    pub(crate) fn emit(&mut self, effect: E) {
        self.verdict = Verdict::Accepted;
        self.effects.push(effect);
    }

    /// The event is known in this state but its values are not acceptable.
    pub(crate) fn refuse(&mut self, reason: &'static str) {
        self.verdict = Verdict::Refused(reason);
    }
}

/// What a statig machine must provide to be wrapped in [`Machine`].
pub trait MachineSpec:
    IntoStateMachine + Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned
where
    Self::State: State<Self> + Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned,
    for<'sub> Self::Superstate<'sub>: Superstate<Self>,
{
    const NAME: &'static str;
    type Ev;
    type Effect;
    fn state_name(state: &Self::State) -> &'static str;
    fn event_name(event: &Self::Ev) -> &'static str;
    /// Every invariant of the data in the given state.
    fn check(&self, state: &Self::State) -> Result<(), String>;
}

/// A machine in a state. `handle` is all-or-nothing: on `Err` state and data are unchanged.
pub struct Machine<M>
where
    M: MachineSpec,
    M::State: State<M> + Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned,
    for<'sub> M::Superstate<'sub>: Superstate<M>,
{
    sm: InitializedStateMachine<M>,
}

impl<M> Machine<M>
where
    M: MachineSpec,
    for<'evt, 'ctx> M: IntoStateMachine<Event<'evt> = M::Ev, Context<'ctx> = Decision<M::Effect>>,
    M::State: State<M> + Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned,
    for<'sub> M::Superstate<'sub>: Superstate<M>,
{
    pub(crate) fn start(data: M) -> Self {
        Machine {
            sm: data
                .uninitialized_state_machine()
                .init_with_context(&mut Decision::default()),
        }
    }

    pub fn state(&self) -> &M::State {
        self.sm.state()
    }

    pub fn state_name(&self) -> &'static str {
        M::state_name(self.sm.state())
    }

    pub fn data(&self) -> &M {
        self.sm.inner()
    }

    /// Feed one event. Accepted: the effects to carry out, in order. Rejected: nothing moved.
    pub fn handle(&mut self, event: &M::Ev) -> Result<Vec<M::Effect>, Rejected> {
        let before = self.sm.clone();
        let mut decision = Decision::default();
        self.sm.handle_with_context(event, &mut decision);
        match decision.verdict {
            Verdict::Accepted => Ok(decision.effects),
            verdict => {
                // Handlers only mutate on acceptance; restoring keeps that promise even if
                // one day a handler forgets.
                self.sm = before;
                Err(Rejected {
                    machine: M::NAME,
                    state: self.state_name(),
                    event: M::event_name(event),
                    reason: match verdict {
                        Verdict::Refused(reason) => Some(reason),
                        _ => None,
                    },
                })
            }
        }
    }

    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        self.sm
            .inner()
            .check(self.sm.state())
            .map_err(|what| InvariantViolation {
                machine: M::NAME,
                state: self.state_name(),
                what,
            })
    }
}

impl<M> Clone for Machine<M>
where
    M: MachineSpec,
    M::State: State<M> + Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned,
    for<'sub> M::Superstate<'sub>: Superstate<M>,
{
    fn clone(&self) -> Self {
        Machine {
            sm: self.sm.clone(),
        }
    }
}

impl<M> fmt::Debug for Machine<M>
where
    M: MachineSpec,
    M::State: State<M> + Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned,
    for<'sub> M::Superstate<'sub>: Superstate<M>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(M::NAME)
            .field("state", self.sm.state())
            .field("data", self.sm.inner())
            .finish()
    }
}

impl<M> PartialEq for Machine<M>
where
    M: MachineSpec,
    M::State: State<M> + Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned,
    for<'sub> M::Superstate<'sub>: Superstate<M>,
{
    fn eq(&self, other: &Self) -> bool {
        self.sm.state() == other.sm.state() && self.sm.inner() == other.sm.inner()
    }
}

impl<M> Serialize for Machine<M>
where
    M: MachineSpec,
    M::State: State<M> + Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned,
    for<'sub> M::Superstate<'sub>: Superstate<M>,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.sm.serialize(serializer)
    }
}

impl<'de, M> Deserialize<'de> for Machine<M>
where
    M: MachineSpec,
    for<'evt, 'ctx> M: IntoStateMachine<Event<'evt> = M::Ev, Context<'ctx> = Decision<M::Effect>>,
    M::State: State<M> + Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned,
    for<'sub> M::Superstate<'sub>: Superstate<M>,
{
    /// Restores the exact state and data. statig's `init()` re-runs entry actions here; ours
    /// have no effects, and the throwaway `Decision` drops anything pushed.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let sm = UninitializedStateMachine::<M>::deserialize(deserializer)?;
        let machine = Machine {
            sm: sm.init_with_context(&mut Decision::default()),
        };
        machine
            .check_invariants()
            .map_err(serde::de::Error::custom)?;
        Ok(machine)
    }
}
