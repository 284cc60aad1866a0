//! The layout of `aegis/src`: no import cycle between its files, and no file importing
//! from a higher layer (see `aegis-layout`'s lib for what counts as an import).

use std::path::Path;

use aegis_layout::{LayerTable, check_layout, read_sources, render};

/// Layers of `aegis/src`, lowest first. A file may import from its own row and the rows
/// before it, never from a later one. Patterns are paths relative to `aegis/src`, or
/// `dir/**` for everything under `dir`. Every file must match exactly one row, so that a
/// new file gets placed on purpose.
#[rustfmt::skip] // one row per line, so that moving a file is a one-line edit
const LAYERS: LayerTable<'static> = &[
    ("base",         &["error.rs", "codec.rs", "domain/**"]),
    ("ports",        &["ports/**"]),
    ("backend",      &["backend.rs"]),
    ("adapters",     &["adapters/**", "testing/**"]),
    ("coordination", &["election.rs", "leader.rs", "registry/**", "discovery/**"]),
    ("kernel",       &["handler.rs", "rpc/retry.rs", "rpc/deadline.rs", "propagation.rs", "otel.rs", "rpc/metrics.rs"]),
    ("plumbing",     &["rpc/call.rs", "rpc/context.rs", "rpc/layer.rs", "rpc/interceptor.rs", "events/call.rs", "events/event.rs", "commands/call.rs", "commands/context.rs", "consumer.rs", "dead_letters/**"]),
    ("service",      &["service.rs"]),
    ("catalog",      &["catalog/**"]),
    ("engines",      &["rpc/server.rs", "rpc/control.rs", "rpc/client.rs", "events/publisher.rs", "events/subscriber.rs", "commands/sender.rs", "commands/worker.rs"]),
    ("host",         &["host/**"]),
    ("faces",        &["rpc/mod.rs", "events/mod.rs", "commands/mod.rs", "lib.rs", "macro_support.rs"]),
];

/// Fails with every cycle (and one path through it, `file:line` per import) and every
/// upward import in `aegis/src`.
#[test]
fn aegis_src_has_no_cycles_and_no_upward_imports() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../aegis/src");
    let files = read_sources(&root).expect("aegis/src is readable");
    assert!(!files.is_empty(), "no .rs files under {}", root.display());
    let problems = check_layout(&files, LAYERS).expect("aegis/src parses");
    assert!(problems.is_empty(), "{}", render(&problems));
}
