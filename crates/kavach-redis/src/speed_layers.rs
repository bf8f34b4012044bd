//! Switches for the speed layers of the Redis rate-limit path of `evaluateAsync` (and for the
//! Node binding's interned names, which every evaluation uses), so the ablation benches
//! (`KAVACH_BENCH_ABLATION=1 npm run bench -- redis`, bench/redis.ts; `npm run bench --
//! evaluate` for `interned-names`) can measure what each layer buys on its own. Every layer is on unless switched off: by `KAVACH_SPEED_LAYERS_OFF`
//! (a comma list of layer names, read once, on the first check) or by `set_off` (the bench's
//! in-process switch, the binding's internal `setSpeedLayersOff`). docs/ARCHITECTURE.md,
//! "Speed layers", describes each layer and its measured gain.
//!
//! The list names the layers of this crate and of the Node binding (kavach-node), so that one
//! switch covers the whole path. A layer chosen when a connection is made (`Direct`,
//! `SocketWatch`) follows the switches in force at connect time; the others are read per call.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

/// One speed layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Concurrent hits on a lane share one script call (`rate_limit/coalesce.rs`).
    Coalesce,
    /// The hand-written RESP connection for script calls (`direct`).
    Direct,
    /// kavach-node: `evaluateAsync` on Redis-only gates runs on a tokio runtime driven by
    /// Node's event loop on the JS thread, not on the thread pool.
    EventLoop,
    /// kavach-node: libuv reads the direct connection's socket, not a tokio task.
    SocketWatch,
    /// kavach-node: evaluations are polled on the JS thread outside tokio's scheduler.
    LocalTasks,
    /// kavach-node: verdicts finished on the event-loop runtime go to JS from the libuv
    /// callback, not through a threadsafe function.
    DirectDeliver,
    /// kavach-node: verdicts travel to JS in the UTF-16 batch string, not as raw arrays.
    Utf16Batch,
    /// kavach-node: action names, roles and param names travel by index once interned
    /// (`names.rs`), in `gate.evaluate` as in `evaluateAsync`. Read when a name is first seen.
    InternedNames,
}

impl Layer {
    pub const ALL: [Layer; 8] = [
        Layer::Coalesce,
        Layer::Direct,
        Layer::EventLoop,
        Layer::SocketWatch,
        Layer::LocalTasks,
        Layer::DirectDeliver,
        Layer::Utf16Batch,
        Layer::InternedNames,
    ];

    /// The name used by `KAVACH_SPEED_LAYERS_OFF` and the bench.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Coalesce => "coalesce",
            Layer::Direct => "direct",
            Layer::EventLoop => "event-loop",
            Layer::SocketWatch => "socket-watch",
            Layer::LocalTasks => "local-tasks",
            Layer::DirectDeliver => "direct-deliver",
            Layer::Utf16Batch => "utf16-batch",
            Layer::InternedNames => "interned-names",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// Bits of the layers switched off.
static OFF: AtomicU32 = AtomicU32::new(0);
static FROM_ENV: Once = Once::new();

/// The layers named in a comma list, or the first unknown name.
pub fn parse(list: &str) -> Result<Vec<Layer>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            Layer::ALL
                .into_iter()
                .find(|l| l.name() == n)
                .ok_or_else(|| n.to_owned())
        })
        .collect()
}

fn off_bits() -> u32 {
    FROM_ENV.call_once(|| {
        if let Ok(list) = std::env::var("KAVACH_SPEED_LAYERS_OFF") {
            // An unknown name switches nothing off: the variable only ever slows things down.
            let bits = parse(&list)
                .unwrap_or_default()
                .into_iter()
                .fold(0, |b, l| b | l.bit());
            OFF.store(bits, Ordering::Release);
        }
    });
    OFF.load(Ordering::Acquire)
}

/// Switches exactly `layers` off, every other on (the bench).
pub fn set_off(layers: &[Layer]) {
    off_bits();
    OFF.store(layers.iter().fold(0, |b, l| b | l.bit()), Ordering::Release);
}

/// Whether `layer` is on.
pub fn on(layer: Layer) -> bool {
    off_bits() & layer.bit() == 0
}
