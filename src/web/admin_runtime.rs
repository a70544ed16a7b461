//! The dashboard and the admin API run on a runtime of their own, whose one worker thread has
//! a lower CPU priority than the main runtime's: a busy dashboard then takes CPU the relay's
//! verify and usage requests leave over, instead of sharing it evenly with them. On a 2-core
//! machine, a loop of list queries had made verify's p99 1.7–1.95 times what it was without.
//!
//! Connections are accepted and answered on the main runtime; only the admin side's handlers
//! (sessions, reads, rendering) move, and their Redis calls go over a connection of their own
//! (see `store::mark_low_priority_thread`).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::runtime::{Builder, Handle, Runtime};

/// The admin side's runtime; dropped without waiting for its tasks when the server stops.
pub struct AdminRuntime {
    handle: Handle,
    /// Taken only when dropped.
    runtime: Option<Runtime>,
}

impl AdminRuntime {
    pub fn start() -> std::io::Result<AdminRuntime> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("keyward-admin")
            .on_thread_start(|| {
                crate::priority::lower_this_thread("admin");
                crate::store::mark_low_priority_thread();
            })
            .enable_all()
            .build()?;
        Ok(AdminRuntime {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }
}

impl Drop for AdminRuntime {
    fn drop(&mut self) {
        // A runtime dropped inside another's async context panics; this one has nothing left
        // worth waiting for once the server has stopped.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs the rest of the request on the admin runtime.
pub async fn run_on_admin_runtime(
    State(admin): State<Handle>,
    request: Request,
    next: Next,
) -> Response {
    match admin.spawn(next.run(request)).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "an admin request's task ended without an answer");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
