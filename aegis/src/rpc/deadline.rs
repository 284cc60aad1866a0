//! The deadline a handler's own calls inherit, kept in a task-local while the handler runs.

use std::future::Future;
use std::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// The deadline that calls made here inherit: inside an RPC, command or event handler, when
/// its caller gives up (or the handler is cancelled, if that comes first); inside
/// [`within_deadline`], the one it set. `None` elsewhere, including in tasks a handler
/// spawns: task-locals do not cross `tokio::spawn`.
pub fn current_deadline() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// Runs `future` with `deadline` in force: every call a generated client makes inside it
/// times out at `deadline` at the latest (each call still has its own timeout, which may end
/// it sooner). A deadline already in force is kept if it is earlier.
///
/// Handlers have their deadline in force already; use this for work they spawn, which does
/// not inherit it:
///
/// ```
/// fn spawn_lookup(ctx: &aegis::RequestContext) {
///     let deadline = aegis::current_deadline().unwrap_or(ctx.deadline());
///     tokio::spawn(aegis::within_deadline(deadline, async move {
///         // Calls made here end by `deadline`.
///     }));
/// }
/// ```
pub fn within_deadline<F: Future>(deadline: Instant, future: F) -> impl Future<Output = F::Output> {
    let deadline = current_deadline().map_or(deadline, |current| current.min(deadline));
    DEADLINE.scope(deadline, future)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_earlier_deadline_holds_inside_its_future_only() {
        assert_eq!(current_deadline(), None);
        let (soon, later) = (
            Instant::now() + Duration::from_secs(1),
            Instant::now() + Duration::from_secs(9),
        );
        let inner = within_deadline(soon, async {
            let nested = within_deadline(later, async { current_deadline() }).await;
            let spawned = tokio::spawn(async { current_deadline() })
                .await
                .expect("joins");
            (current_deadline(), nested, spawned)
        })
        .await;
        assert_eq!(inner, (Some(soon), Some(soon), None));
        assert_eq!(current_deadline(), None);
    }

    #[tokio::test]
    async fn event_handlers_run_with_their_deadline() {
        let call = crate::events::call::EventCall {
            subject: "events.x".into(),
            payload: bytes::Bytes::new(),
            headers: crate::ports::Headers::new(),
            delivered: 1,
            handler: "h",
            timeout: Duration::from_secs(30),
            trace: crate::TraceContext::root(),
        };
        let before = Instant::now();
        let seen = crate::events::call::guard_event(&call, async { current_deadline() })
            .await
            .expect("runs")
            .expect("a deadline in force");
        assert!(seen >= before + call.timeout && seen <= Instant::now() + call.timeout);
    }
}
