//! Forced per-entry failures: an interceptor in the SDK client takes messages out of a
//! PublishBatch request before it is sent and reports them failed in the answer, as SNS does.
//! Two failures are worth another attempt: SNS's own (`InternalError`, not the sender's fault)
//! and throttling (`Throttled`, rate limited); through the delivery policy only those two
//! records are published again. The third is the sender's fault (`InvalidParameter`): that
//! record fails at once, alone.

use std::sync::{Arc, Mutex};

use aws_sdk_sns::config::interceptors::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextMut,
};
use aws_sdk_sns::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sns::operation::publish_batch::{PublishBatchInput, PublishBatchOutput};
use aws_sdk_sns::types::BatchResultErrorEntry;
use courier_connector_sns::{Sns, client_with_sdk_settings};
use courier_core::{Batch, Env, ErrorKind, Record};
use courier_runtime::{Deliverer, DeliveryPolicy};
use courier_testbed::moto;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which messages to refuse, and how.
#[derive(Debug, Default)]
struct Refuse {
    /// Messages in each PublishBatch request, as the connector made it.
    sent: Mutex<Vec<Vec<String>>>,
    /// Entries taken out of the current request: (entry id, code, sender's fault).
    taken: Mutex<Vec<(String, &'static str, bool)>>,
    /// Refused once, as SNS's own failure.
    transient: String,
    /// Refused once, as throttling.
    throttled: String,
    /// Refused every time, as the sender's fault.
    permanent: String,
}

impl Refuse {
    fn take_out(&self, input: &mut PublishBatchInput) {
        let Some(entries) = input.publish_batch_request_entries.as_mut() else {
            return;
        };
        let messages: Vec<String> = entries.iter().map(|e| e.message().to_string()).collect();
        let first_time = |m: &str| !self.sent.lock().unwrap().iter().flatten().any(|s| s == m);
        let (transient_first, throttled_first) =
            (first_time(&self.transient), first_time(&self.throttled));
        let mut taken = self.taken.lock().unwrap();
        entries.retain(|e| {
            let refusal = match e.message() {
                m if m == self.transient && transient_first => Some(("InternalError", false)),
                m if m == self.throttled && throttled_first => Some(("Throttled", true)),
                m if m == self.permanent => Some(("InvalidParameter", true)),
                _ => None,
            };
            if let Some((code, sender_fault)) = refusal {
                taken.push((e.id().to_string(), code, sender_fault));
            }
            refusal.is_none()
        });
        self.sent.lock().unwrap().push(messages);
    }

    fn report(&self, out: &mut PublishBatchOutput) -> Result<(), BoxError> {
        let taken: Vec<_> = self.taken.lock().unwrap().drain(..).collect();
        let failed = out.failed.get_or_insert_with(Vec::new);
        for (id, code, sender_fault) in taken {
            failed.push(
                BatchResultErrorEntry::builder()
                    .id(id)
                    .code(code)
                    .sender_fault(sender_fault)
                    .message("refused (injected)")
                    .build()?,
            );
        }
        Ok(())
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
        if let Some(input) = ctx.input_mut().downcast_mut::<PublishBatchInput>() {
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
            && let Some(out) = output.downcast_mut::<PublishBatchOutput>()
        {
            self.0.report(out)?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn only_the_entries_sns_failed_on_its_side_are_published_again() {
    let moto = moto::moto();
    let topic = moto.new_topic(false).await;
    let body = |i: usize| format!(r#"{{"n":{i}}}"#);
    let refuse = Arc::new(Refuse {
        throttled: body(1),
        transient: body(3),
        permanent: body(5),
        ..Refuse::default()
    });
    let config = serde_json::from_value(moto.sns_config(&topic.topic_arn)).unwrap();
    let auth = serde_json::from_value(moto.auth()).unwrap();
    let env = Env {
        destination_id: "dest_t".into(),
        allow_private_network: true,
        ..Env::default()
    };
    let layer = refuse.clone();
    let client =
        client_with_sdk_settings(config, auth, &env, move |b| b.interceptor(RefuseRef(layer)))
            .await
            .unwrap();
    let destination = courier_core::erased::bind(Sns, client, env);
    let policy = DeliveryPolicy {
        retry_base_ms: 10,
        retry_max_delay_ms: 50,
        ..DeliveryPolicy::default()
    };
    let records: Vec<Record> = (0..7)
        .map(|i| Record::new(format!("r{i}"), body(i)))
        .collect();
    let out = Deliverer::new(destination, policy)
        .deliver(Batch::new("t-partial", records))
        .await;

    assert_eq!(out.delivered_count(), 6, "{out:?}");
    let refused = out.records[5].error().expect("the sender's fault is final");
    assert_eq!(refused.kind, ErrorKind::Rejected, "{refused:?}");
    assert!(refused.message.contains("InvalidParameter"), "{refused:?}");
    let attempts: Vec<u32> = out.records.iter().map(|r| r.attempts).collect();
    assert_eq!(
        attempts,
        [1, 2, 1, 2, 1, 1, 1],
        "only SNS's own failure and the throttled entry took a second attempt"
    );
    let sent = refuse.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "two requests: {sent:?}");
    assert_eq!(
        sent[1],
        [body(1), body(3)],
        "the retry carries only the entries SNS failed on its side"
    );
    let mut stored: Vec<String> = moto
        .published(&topic)
        .await
        .into_iter()
        .map(|m| m.body)
        .collect();
    stored.sort();
    let mut expected: Vec<String> = [0, 1, 2, 3, 4, 6].map(body).to_vec();
    expected.sort();
    assert_eq!(stored, expected, "each delivered record once");
}
