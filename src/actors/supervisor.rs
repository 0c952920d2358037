//! One supervisor per entity kind. Entity actors are spawned linked to it; when one fails (a
//! panic in a handler) the supervisor logs it and makes the registry forget it, so the next
//! command respawns the entity from its last committed snapshot. Every accepted transition is
//! committed before it is answered, so a crash loses nothing.

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub struct Supervisor {
    pub kind: &'static str,
    pub forget: Arc<dyn Fn(ActorId) + Send + Sync>,
    pub restarts: Arc<AtomicU64>,
}

impl Actor for Supervisor {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<()>,
        event: SupervisionEvent,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, error) = event {
            tracing::error!(kind = self.kind, actor = %cell.get_id(), %error, "entity actor failed; it will be respawned from its snapshot");
            self.restarts.fetch_add(1, Ordering::Relaxed);
            (self.forget)(cell.get_id());
        }
        Ok(())
    }
}
