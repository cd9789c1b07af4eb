//! Forced per-entry failures: an interceptor in the SDK client takes events out of a PutEvents
//! request before it is sent and puts failed results in their places in the answer (PutEvents
//! answers by position, with `FailedEntryCount`), as EventBridge does. Two failures are worth
//! another attempt: `InternalFailure` (EventBridge's own) and `ThrottlingException` (rate
//! limited); through the delivery policy only those two records are put again. The third,
//! `MalformedDetail`, is permanent: that record fails at once, alone.

use std::sync::{Arc, Mutex};

use aws_sdk_eventbridge::config::interceptors::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextMut,
};
use aws_sdk_eventbridge::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_eventbridge::operation::put_events::{PutEventsInput, PutEventsOutput};
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use courier_connector_eventbridge::{Eventbridge, client_with_sdk_settings};
use courier_core::{Batch, Env, ErrorKind, Record};
use courier_runtime::{Deliverer, DeliveryPolicy};
use courier_testbed::moto;
use serde_json::Value;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which events to refuse, and how.
#[derive(Debug, Default)]
struct Refuse {
    /// The details in each PutEvents request, as the connector made it.
    sent: Mutex<Vec<Vec<String>>>,
    /// Entries taken out of the current request: (position, code).
    taken: Mutex<Vec<(usize, &'static str)>>,
    /// Refused once, as EventBridge's own failure.
    transient: String,
    /// Refused once, as throttling.
    throttled: String,
    /// Refused every time, as a malformed detail.
    permanent: String,
}

impl Refuse {
    fn take_out(&self, input: &mut PutEventsInput) {
        let Some(entries) = input.entries.as_mut() else {
            return;
        };
        let details: Vec<String> = entries
            .iter()
            .map(|e| e.detail().unwrap_or_default().to_string())
            .collect();
        let first_time = |d: &str| !self.sent.lock().unwrap().iter().flatten().any(|s| s == d);
        let (transient_first, throttled_first) =
            (first_time(&self.transient), first_time(&self.throttled));
        let mut taken = self.taken.lock().unwrap();
        let mut position = 0;
        entries.retain(|e| {
            let refusal = match e.detail().unwrap_or_default() {
                d if d == self.transient && transient_first => Some("InternalFailure"),
                d if d == self.throttled && throttled_first => Some("ThrottlingException"),
                d if d == self.permanent => Some("MalformedDetail"),
                _ => None,
            };
            if let Some(code) = refusal {
                taken.push((position, code));
            }
            position += 1;
            refusal.is_none()
        });
        self.sent.lock().unwrap().push(details);
    }

    fn report(&self, out: &mut PutEventsOutput) {
        let taken: Vec<_> = self.taken.lock().unwrap().drain(..).collect();
        let entries = out.entries.get_or_insert_with(Vec::new);
        for (position, code) in &taken {
            let failed = PutEventsResultEntry::builder()
                .error_code(*code)
                .error_message("refused (injected)")
                .build();
            entries.insert((*position).min(entries.len()), failed);
        }
        out.failed_entry_count += taken.len() as i32;
    }
}

/// Lets the runtime share one interceptor with the test.
#[derive(Debug, Clone)]
struct RefuseRef(Arc<Refuse>);

impl Intercept for RefuseRef {
    fn name(&self) -> &'static str {
        "RefuseRef"
    }

    fn modify_before_serialization(
        &self,
        ctx: &mut BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(input) = ctx.input_mut().downcast_mut::<PutEventsInput>() {
            self.0.take_out(input);
        }
        Ok(())
    }

    fn modify_before_attempt_completion(
        &self,
        ctx: &mut FinalizerInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Ok(output)) = ctx.output_or_error_mut()
            && let Some(out) = output.downcast_mut::<PutEventsOutput>()
        {
            self.0.report(out);
        }
        Ok(())
    }
}

#[tokio::test]
async fn only_the_entries_eventbridge_failed_on_its_side_are_put_again() {
    let moto = moto::moto();
    let bus = moto.new_bus().await;
    let body = |i: usize| format!(r#"{{"n":{i}}}"#);
    let refuse = Arc::new(Refuse {
        throttled: body(1),
        transient: body(3),
        permanent: body(5),
        ..Refuse::default()
    });
    let config =
        serde_json::from_value(moto.eventbridge_config(&bus.name, "com.acme.partial")).unwrap();
    let auth = serde_json::from_value(moto.auth()).unwrap();
    let env = Env {
        destination_id: "dest_eb".into(),
        allow_private_network: true,
        ..Env::default()
    };
    let layer = refuse.clone();
    let client =
        client_with_sdk_settings(config, auth, &env, move |b| b.interceptor(RefuseRef(layer)))
            .await
            .unwrap();
    let destination = courier_core::erased::bind(Eventbridge, client, env);
    let policy = DeliveryPolicy {
        retry_base_ms: 10,
        retry_max_delay_ms: 50,
        ..DeliveryPolicy::default()
    };
    let records: Vec<Record> = (0..7)
        .map(|i| Record::new(format!("r{i}"), body(i)))
        .collect();
    let out = Deliverer::new(destination, policy)
        .deliver(Batch::new("eb-partial", records))
        .await;

    assert_eq!(out.delivered_count(), 6, "{out:?}");
    let refused = out.records[5].error().expect("a malformed detail is final");
    assert_eq!(refused.kind, ErrorKind::Rejected, "{refused:?}");
    assert!(refused.message.contains("MalformedDetail"), "{refused:?}");
    let attempts: Vec<u32> = out.records.iter().map(|r| r.attempts).collect();
    assert_eq!(
        attempts,
        [1, 2, 1, 2, 1, 1, 1],
        "only EventBridge's own failure and the throttled entry took a second attempt"
    );
    let sent = refuse.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "two requests: {sent:?}");
    assert_eq!(
        sent[1],
        [body(1), body(3)],
        "the retry carries only the entries EventBridge failed on its side"
    );
    let mut stored: Vec<u64> = moto
        .events(&bus)
        .await
        .into_iter()
        .map(|e: Value| e["detail"]["n"].as_u64().unwrap())
        .collect();
    stored.sort_unstable();
    assert_eq!(stored, [0, 1, 2, 3, 4, 6], "each delivered record once");
}
