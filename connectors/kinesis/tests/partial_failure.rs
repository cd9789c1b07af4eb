//! A forced partial failure: a stub layer in the SDK client drops one record from a PutRecords
//! request and reports it failed with ProvisionedThroughputExceededException, as Kinesis does
//! under throttling. Through the delivery policy only that record is sent again.

use std::sync::{Arc, Mutex};

use aws_sdk_kinesis::config::interceptors::{
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextMut,
};
use aws_sdk_kinesis::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
use aws_sdk_kinesis::types::PutRecordsResultEntry;
use aws_smithy_types::body::SdkBody;
use courier_connector_kinesis::{Kinesis, client_with_sdk_settings};
use courier_core::{Batch, Env, Record};
use courier_runtime::{Deliverer, DeliveryPolicy};
use courier_testbed::moto as support;
use serde_json::Value;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Default)]
struct Throttle {
    /// Records sent in each PutRecords request, by partition key.
    sent: Mutex<Vec<Vec<String>>>,
    /// The position of the record dropped from the current request, to report it failed.
    dropped: Mutex<Option<usize>>,
    victim: String,
}

impl Intercept for Throttle {
    fn name(&self) -> &'static str {
        "Throttle"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = ctx.request_mut();
        let is_put_records = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with(".PutRecords"));
        if !is_put_records {
            return Ok(());
        }
        let mut body: Value =
            serde_json::from_slice(request.body().bytes().ok_or("streaming body")?)?;
        let records = body["Records"].as_array_mut().ok_or("no Records")?;
        let first_time = self
            .sent
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .all(|k| *k != self.victim);
        if first_time
            && let Some(i) = records
                .iter()
                .position(|r| r["PartitionKey"] == self.victim.as_str())
        {
            records.remove(i);
            *self.dropped.lock().unwrap() = Some(i);
        }
        let keys = records
            .iter()
            .map(|r| r["PartitionKey"].as_str().unwrap_or_default().to_string())
            .collect();
        self.sent.lock().unwrap().push(keys);
        // The dropped record still counts as sent: it reached "Kinesis" and was refused there.
        if let Some(last) = self.sent.lock().unwrap().last_mut()
            && self.dropped.lock().unwrap().is_some()
        {
            last.push(self.victim.clone());
        }
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
        let Some(i) = self.dropped.lock().unwrap().take() else {
            return Ok(());
        };
        let Some(Ok(output)) = ctx.output_or_error_mut() else {
            return Ok(());
        };
        let Some(out) = output.downcast_mut::<PutRecordsOutput>() else {
            return Ok(());
        };
        let mut records = out.records().to_vec();
        records.insert(
            i,
            PutRecordsResultEntry::builder()
                .error_code("ProvisionedThroughputExceededException")
                .error_message("Rate exceeded for shard (injected)")
                .build(),
        );
        *out = PutRecordsOutput::builder()
            .failed_record_count(out.failed_record_count().unwrap_or(0) + 1)
            .set_records(Some(records))
            .build()?;
        Ok(())
    }
}

#[tokio::test]
async fn only_the_failed_record_is_sent_again() {
    let moto = support::moto();
    let stream = moto.new_stream(1).await;
    let throttle = Arc::new(Throttle {
        victim: "u3".into(),
        ..Throttle::default()
    });
    let config = serde_json::from_value(moto.kinesis_config(&stream)).unwrap();
    let auth = serde_json::from_value(moto.auth()).unwrap();
    let layer = throttle.clone();
    let env = Env {
        destination_id: "dest_k".into(),
        allow_private_network: true,
        ..Env::default()
    };
    let client = client_with_sdk_settings(config, auth, &env, move |b| {
        b.interceptor(ThrottleRef(layer))
    })
    .await
    .unwrap();
    let destination = courier_core::erased::bind(Kinesis, client, Env::default());
    let policy = DeliveryPolicy {
        retry_base_ms: 10,
        retry_max_delay_ms: 50,
        ..DeliveryPolicy::default()
    };
    let records: Vec<Record> = (0..6)
        .map(|i| Record::new(format!("r{i}"), format!(r#"{{"user":{{"id":"u{i}"}}}}"#)))
        .collect();
    let out = Deliverer::new(destination, policy)
        .deliver(Batch::new("k-partial", records))
        .await;

    assert_eq!(out.delivered_count(), 6, "{out:?}");
    let attempts: Vec<u32> = out.records.iter().map(|r| r.attempts).collect();
    assert_eq!(
        attempts,
        [1, 1, 1, 2, 1, 1],
        "only the throttled record took a second attempt"
    );
    let sent = throttle.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "two PutRecords requests: {sent:?}");
    assert_eq!(sent[0].len(), 6);
    assert_eq!(sent[1], ["u3"], "the retry carries only the failed record");
    let stored = moto.records(&stream).await;
    assert_eq!(stored.len(), 6, "each record stored once");
}

/// The SDK wants an owned interceptor; this shares the test's counters with it.
#[derive(Debug)]
struct ThrottleRef(Arc<Throttle>);

impl Intercept for ThrottleRef {
    fn name(&self) -> &'static str {
        "ThrottleRef"
    }
    fn modify_before_signing(
        &self,
        c: &mut BeforeTransmitInterceptorContextMut<'_>,
        r: &RuntimeComponents,
        b: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.modify_before_signing(c, r, b)
    }
    fn modify_before_attempt_completion(
        &self,
        c: &mut FinalizerInterceptorContextMut<'_>,
        r: &RuntimeComponents,
        b: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.modify_before_attempt_completion(c, r, b)
    }
}
