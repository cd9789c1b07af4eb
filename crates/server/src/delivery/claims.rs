//! The claim tokens this process holds in the queue, counted by the deliveries that use each:
//! a token is renewed while any of its deliveries waits in memory, is being attempted, or is
//! being recorded, and released at shutdown if it is still held.

pub(crate) use crate::holds::{Held, Holds as Claims};
