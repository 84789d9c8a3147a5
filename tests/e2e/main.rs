//! Whole-system tests, in one binary (each test binary links the whole app).
//!
//! - [`signal`]: the signaling server over real TLS on loopback.
//! - [`session`]: two and three Haven peers over real WebRTC on loopback.
//! - [`resume`]: a consult that loses its signaling server, and one whose server restarts.
//! - [`interop`]: aiortc (an independent WebRTC stack) and Haven, in a loopback-only namespace.
//! - [`nodes`]: three signaling nodes sharing rooms through one Redis: a consult across
//!   nodes, capacity and uses, a node killed, Redis lost and back.
//! - [`relay`]: a consult through coturn between peers in network namespaces with no other
//!   path between them.
//! - [`group`]: five people in a group room through Janus (a media server), in a network
//!   namespace: voices and poses through it, shares only between patient and clinician,
//!   and Janus killed.
//! - [`demo`]: `haven demo --headless` rendered under Xvfb + lavapipe: the patient is seen.
//! - [`cli`]: the `haven` command line as scripts and operators use it.
//! - [`privacy`]: a whole consult at trace level logs no token, SDP, name or record.
//! - [`trust`]: a clinician's clinic credential is verified end to end, and a man in the
//!   middle at the signaling server is caught by it and by the safety words.

mod cli;
mod demo;
mod group;
mod interop;
mod nodes;
mod privacy;
mod relay;
mod resume;
mod session;
mod signal;
mod support;
mod trust;
