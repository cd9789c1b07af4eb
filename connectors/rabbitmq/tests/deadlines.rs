//! Every wait on the broker ends: against a server that answers less and less of AMQP (nothing
//! at all, the handshake only, channels but no confirms), the connection test fails at its
//! step and a delivery fails every record, as timeouts naming what went unanswered, within a
//! bound set by the deadlines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_connector_rabbitmq::{
    Deadlines, Rabbitmq, RabbitmqAuth, RabbitmqClient, RabbitmqConfig, RabbitmqRemote,
};
use courier_core::{
    Batch, BatchOutcome, Destination, DynConnector, Env, ErrorKind, Probe, Record, StepReport,
    StepStatus,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How much of AMQP the server answers; everything past it is read and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Answers {
    /// Accepts the TCP connection, then never says a word.
    Nothing,
    /// Completes the handshake and login, then answers nothing on any channel.
    Handshake,
    /// Also opens channels and turns on confirm mode, but never confirms a message.
    Channels,
}

const DEADLINE: Duration = Duration::from_secs(1);
/// What a failure may take: the deadlines that can run in a row, plus slack for a busy machine.
const BOUND: Duration = Duration::from_secs(6);

/// Starts a server on loopback answering as `answers` says; returns its port.
async fn server(answers: Answers) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket, answers));
        }
    });
    port
}

/// One AMQP frame: type, channel, payload, frame end.
fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(0xCE);
    out
}

/// A method frame: class and method ids, then the arguments, already encoded.
fn method(channel: u16, class: u16, id: u16, arguments: &[u8]) -> Vec<u8> {
    let mut payload = class.to_be_bytes().to_vec();
    payload.extend_from_slice(&id.to_be_bytes());
    payload.extend_from_slice(arguments);
    frame(1, channel, &payload)
}

fn long_string(s: &str) -> Vec<u8> {
    let mut out = (s.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(s.as_bytes());
    out
}

/// Reads one frame: its type, channel, and class and method ids when it is a method.
async fn read_frame(socket: &mut TcpStream) -> Option<(u8, u16, Option<(u16, u16)>)> {
    let mut header = [0u8; 7];
    socket.read_exact(&mut header).await.ok()?;
    let size = u32::from_be_bytes(header[3..7].try_into().unwrap()) as usize;
    let mut rest = vec![0u8; size + 1];
    socket.read_exact(&mut rest).await.ok()?;
    let channel = u16::from_be_bytes([header[1], header[2]]);
    let ids = (header[0] == 1 && size >= 4).then(|| {
        (
            u16::from_be_bytes([rest[0], rest[1]]),
            u16::from_be_bytes([rest[2], rest[3]]),
        )
    });
    Some((header[0], channel, ids))
}

async fn serve(mut socket: TcpStream, answers: Answers) {
    let mut protocol_header = [0u8; 8];
    if socket.read_exact(&mut protocol_header).await.is_err() {
        return;
    }
    if answers >= Answers::Handshake {
        // connection.start: AMQP 0-9-1, no server properties, PLAIN, en_US.
        let mut start = vec![0, 9];
        start.extend_from_slice(&0u32.to_be_bytes());
        start.extend(long_string("PLAIN"));
        start.extend(long_string("en_US"));
        let _ = socket.write_all(&method(0, 10, 10, &start)).await;
    }
    while let Some((_, channel, ids)) = read_frame(&mut socket).await {
        let reply = match (answers, ids) {
            (Answers::Nothing, _) => None,
            // start-ok → tune (channel_max, frame_max, no heartbeat of our own).
            (_, Some((10, 11))) => {
                let mut tune = 2047u16.to_be_bytes().to_vec();
                tune.extend_from_slice(&131_072u32.to_be_bytes());
                tune.extend_from_slice(&0u16.to_be_bytes());
                Some(method(0, 10, 30, &tune))
            }
            // connection.open → open-ok.
            (_, Some((10, 40))) => Some(method(0, 10, 41, &[0])),
            // channel.open → open-ok.
            (Answers::Channels, Some((20, 10))) => Some(method(channel, 20, 11, &long_string(""))),
            // confirm.select → select-ok.
            (Answers::Channels, Some((85, 10))) => Some(method(channel, 85, 11, &[])),
            _ => None,
        };
        if let Some(reply) = reply
            && socket.write_all(&reply).await.is_err()
        {
            return;
        }
    }
}

/// A destination on the server at `port` with one-second deadlines.
fn destination(port: u16) -> Arc<dyn Destination> {
    let env = Env {
        destination_id: "dest_deadlines".into(),
        allow_private_network: true,
        ..Env::default()
    };
    let config: RabbitmqConfig = serde_json::from_value(json!({
        "url": format!("amqp://127.0.0.1:{port}/%2f"),
        "exchange": "orders",
    }))
    .unwrap();
    let auth: RabbitmqAuth =
        serde_json::from_value(json!({"username": "courier", "password": "courier"})).unwrap();
    let remote = RabbitmqRemote::new(&config, auth, &env)
        .unwrap()
        .with_deadlines(Deadlines {
            connect: DEADLINE,
            call: DEADLINE,
            request: DEADLINE,
        });
    let client = RabbitmqClient::new(config, remote).unwrap();
    courier_core::erased::bind(Rabbitmq, client, env)
}

/// The connection test's step reports, and how long it took.
async fn run_test(destination: &dyn Destination) -> (Vec<StepReport>, Duration) {
    let (sink, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let mut probe = Probe::new(Rabbitmq.metadata().test_steps, sink);
    let started = Instant::now();
    let _ = destination.test(&mut probe).await;
    let took = started.elapsed();
    drop(probe);
    let mut steps = Vec::new();
    while let Some(step) = reports.recv().await {
        steps.push(step);
    }
    (steps, took)
}

/// Checks that the step `name` failed as a timeout mentioning `says`, after the steps before
/// it passed.
fn failed_at(steps: &[StepReport], name: &str, says: &str) {
    let failed = steps
        .iter()
        .position(|s| s.status == StepStatus::Failed)
        .unwrap_or_else(|| panic!("no step failed: {steps:#?}"));
    let step = &steps[failed];
    assert_eq!(step.name, name, "{steps:#?}");
    assert_eq!(step.error_kind, Some(ErrorKind::Timeout), "{step:#?}");
    assert!(step.message.contains(says), "{step:#?}");
    assert!(
        steps[..failed]
            .iter()
            .all(|s| s.status == StepStatus::Passed),
        "{steps:#?}"
    );
}

/// Delivers two records; returns the outcome and how long it took.
async fn deliver(destination: &dyn Destination) -> (BatchOutcome, Duration) {
    let records = vec![
        Record::new("r1", r#"{"n":1}"#),
        Record::new("r2", r#"{"n":2}"#),
    ];
    let started = Instant::now();
    let outcome = destination.deliver(&Batch::new("b1", records)).await;
    (outcome, started.elapsed())
}

/// Checks that every record failed as a timeout mentioning `says`.
fn all_timed_out(outcome: &BatchOutcome, says: &str) {
    assert_eq!(outcome.records.len(), 2, "{outcome:?}");
    for record in &outcome.records {
        let error = record
            .error()
            .unwrap_or_else(|| panic!("delivered: {outcome:?}"));
        assert_eq!(error.kind, ErrorKind::Timeout, "{error:?}");
        assert!(error.message.contains(says), "{error:?}");
    }
}

#[tokio::test]
async fn a_server_that_never_answers_fails_the_login_in_time() {
    let destination = destination(server(Answers::Nothing).await);
    let (steps, took) = run_test(&*destination).await;
    failed_at(
        &steps,
        "authentication",
        "did not complete the AMQP handshake",
    );
    assert!(took < BOUND, "the test took {took:?}");
    let (outcome, took) = deliver(&*destination).await;
    all_timed_out(&outcome, "did not complete the AMQP handshake");
    assert!(took < BOUND, "the delivery took {took:?}");
}

#[tokio::test]
async fn a_server_that_opens_no_channel_fails_the_channel_call_in_time() {
    let destination = destination(server(Answers::Handshake).await);
    let (steps, took) = run_test(&*destination).await;
    failed_at(
        &steps,
        "exchange",
        "did not answer opening a channel for the passive declare of exchange `orders`",
    );
    assert!(took < BOUND, "the test took {took:?}");
    let (outcome, took) = deliver(&*destination).await;
    all_timed_out(&outcome, "did not answer opening a confirm channel");
    assert!(took < BOUND, "the delivery took {took:?}");
}

#[tokio::test]
async fn a_server_that_never_confirms_fails_the_unconfirmed_records_in_time() {
    let destination = destination(server(Answers::Channels).await);
    let (steps, took) = run_test(&*destination).await;
    failed_at(
        &steps,
        "exchange",
        "did not answer the passive declare of exchange `orders`",
    );
    assert!(took < BOUND, "the test took {took:?}");
    let (outcome, took) = deliver(&*destination).await;
    all_timed_out(&outcome, "was not confirmed within 1s");
    assert!(took < BOUND, "the delivery took {took:?}");
    // The channel with the unconfirmed messages is closed, not lent to the next request,
    // which waits on a channel of its own and fails the same way.
    let (outcome, took) = deliver(&*destination).await;
    all_timed_out(&outcome, "was not confirmed within 1s");
    assert!(took < BOUND, "the second delivery took {took:?}");
}
