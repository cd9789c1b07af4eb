//! Forced per-entry failures: a layer in the SDK client takes messages out of a
//! SendMessageBatch request and reports them failed, as SQS does. One failure is SQS's own
//! (`InternalError`, not the sender's fault): through the delivery policy only that record is
//! sent again. The other is the sender's (`InvalidParameterValue`): that record fails at once,
//! alone.

use std::sync::{Arc, Mutex};

use aws_sdk_sqs::config::interceptors::{
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextMut,
};
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
use aws_sdk_sqs::types::BatchResultErrorEntry;
use aws_smithy_types::body::SdkBody;
use courier_connector_sqs::{Sqs, client_with_sdk_settings};
use courier_core::{Batch, Env, ErrorKind, Record};
use courier_runtime::{Deliverer, DeliveryPolicy};
use courier_testbed::moto;
use serde_json::Value;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which message bodies to refuse, and how.
#[derive(Debug, Default)]
struct Refuse {
    /// Bodies in each SendMessageBatch request, as sent.
    sent: Mutex<Vec<Vec<String>>>,
    /// Entries taken out of the current request: (entry id, code, sender's fault).
    taken: Mutex<Vec<(String, &'static str, bool)>>,
    /// Refused once, as SQS's own failure.
    transient: String,
    /// Refused every time, as the sender's fault.
    permanent: String,
}

impl Intercept for Refuse {
    fn name(&self) -> &'static str {
        "Refuse"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = ctx.request_mut();
        let is_batch = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with(".SendMessageBatch"));
        if !is_batch {
            return Ok(());
        }
        let mut body: Value =
            serde_json::from_slice(request.body().bytes().ok_or("streaming body")?)?;
        let entries = body["Entries"].as_array_mut().ok_or("no Entries")?;
        let bodies: Vec<String> = entries
            .iter()
            .map(|e| e["MessageBody"].as_str().unwrap_or_default().to_string())
            .collect();
        let seen_before = self
            .sent
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .any(|b| *b == self.transient);
        let mut taken = self.taken.lock().unwrap();
        entries.retain(|e| {
            let text = e["MessageBody"].as_str().unwrap_or_default();
            let id = e["Id"].as_str().unwrap_or_default().to_string();
            if text == self.transient && !seen_before {
                taken.push((id, "InternalError", false));
                false
            } else if text == self.permanent {
                taken.push((id, "InvalidParameterValue", true));
                false
            } else {
                true
            }
        });
        self.sent.lock().unwrap().push(bodies);
        let bytes = serde_json::to_vec(&body)?;
        request
            .headers_mut()
            .insert("content-length", bytes.len().to_string());
        *request.body_mut() = SdkBody::from(bytes);
        Ok(())
    }

    fn modify_before_attempt_completion(
        &self,
        ctx: &mut FinalizerInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let taken: Vec<_> = self.taken.lock().unwrap().drain(..).collect();
        if taken.is_empty() {
            return Ok(());
        }
        let Some(Ok(output)) = ctx.output_or_error_mut() else {
            return Ok(());
        };
        let Some(out) = output.downcast_mut::<SendMessageBatchOutput>() else {
            return Ok(());
        };
        let mut failed = out.failed().to_vec();
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
        *out = SendMessageBatchOutput::builder()
            .set_successful(Some(out.successful().to_vec()))
            .set_failed(Some(failed))
            .build()?;
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

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.modify_before_signing(ctx, rc, cfg)
    }

    fn modify_before_attempt_completion(
        &self,
        ctx: &mut FinalizerInterceptorContextMut<'_>,
        rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.modify_before_attempt_completion(ctx, rc, cfg)
    }
}

#[tokio::test]
async fn only_the_entry_sqs_failed_is_sent_again_and_the_senders_fault_is_final() {
    let moto = moto::moto();
    let queue = moto.new_queue(false).await;
    let body = |i: usize| format!(r#"{{"n":{i}}}"#);
    let refuse = Arc::new(Refuse {
        transient: body(3),
        permanent: body(5),
        ..Refuse::default()
    });
    let config = serde_json::from_value(moto.sqs_config(&queue)).unwrap();
    let auth = serde_json::from_value(moto.auth()).unwrap();
    let env = Env {
        destination_id: "dest_q".into(),
        allow_private_network: true,
        ..Env::default()
    };
    let layer = refuse.clone();
    let client =
        client_with_sdk_settings(config, auth, &env, move |b| b.interceptor(RefuseRef(layer)))
            .await
            .unwrap();
    let destination = courier_core::erased::bind(Sqs, client, env);
    let policy = DeliveryPolicy {
        retry_base_ms: 10,
        retry_max_delay_ms: 50,
        ..DeliveryPolicy::default()
    };
    let records: Vec<Record> = (0..7)
        .map(|i| Record::new(format!("r{i}"), body(i)))
        .collect();
    let out = Deliverer::new(destination, policy)
        .deliver(Batch::new("q-partial", records))
        .await;

    assert_eq!(out.delivered_count(), 6, "{out:?}");
    let refused = out.records[5].error().expect("the sender's fault is final");
    assert_eq!(refused.kind, ErrorKind::Rejected, "{refused:?}");
    assert_eq!(out.records[5].attempts, 1, "never retried");
    let attempts: Vec<u32> = out.records.iter().map(|r| r.attempts).collect();
    assert_eq!(
        attempts,
        [1, 1, 1, 2, 1, 1, 1],
        "only SQS's own failure took a second attempt"
    );
    let sent = refuse.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "two requests: {sent:?}");
    assert_eq!(
        sent[1],
        [body(3)],
        "the retry carries only the failed entry"
    );
    let stored: Vec<String> = moto
        .messages(&queue)
        .await
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(stored.len(), 6, "each delivered record once: {stored:?}");
    assert!(!stored.contains(&body(5)));
}
