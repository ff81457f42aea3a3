//! Outputs that leave the machine while `record` runs. Each follows the recording file
//! (through [`crate::recording::Tail`]) on a thread of its own, so the sampler never waits
//! on a network, and whatever happens to the network, the local recording stays whole.

pub mod pyroscope;
