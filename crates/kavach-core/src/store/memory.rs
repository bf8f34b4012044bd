//! In-process stores: bounded, idle entries expire. Owned by the gate-pipeline work.
