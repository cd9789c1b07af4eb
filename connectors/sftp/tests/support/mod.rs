//! The sshd handle from `courier-testbed`, and a TCP proxy in front of sshd for fault tests.

#![allow(dead_code)]

pub mod proxy;

pub use courier_testbed::sshd::*;
