//! The SCP and the SCU against each other on loopback, and dcmtk's echoscu against the SCP:
//! echo, stores answered with the sink's status, AE titles refused at association, the size
//! cap, and an SCP that keeps serving after bad instances.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cruciate_dimse::command::{CANNOT_UNDERSTAND, OUT_OF_RESOURCES, SUCCESS};
use cruciate_dimse::scu::{self, Destination, Outgoing};
use cruciate_dimse::{InstanceSink, Received, Refusal, ScpConfig, StorageScp};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use tokio::sync::watch;

/// Keeps what it is given; refuses data sets that do not start like an element.
#[derive(Default)]
struct Memory(Mutex<Vec<Received>>);

impl InstanceSink for Memory {
    fn store(&self, instance: Received) -> Result<(), Refusal> {
        let bytes = instance.data_set.bytes().unwrap_or_default();
        if bytes.len() < 8 || bytes[0..2] != [0x08, 0x00] {
            return Err(Refusal {
                status: CANNOT_UNDERSTAND,
                reason: "not a data set".into(),
            });
        }
        self.0.lock().unwrap().push(instance);
        Ok(())
    }
}

fn mr(uid: &str, pixels: usize) -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(uids::MR_IMAGE_STORAGE),
        ),
        DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(uid)),
        DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(vec![7u16; pixels].into()),
        ),
    ])
}

async fn start(config: ScpConfig) -> (Destination, Arc<Memory>, watch::Sender<bool>) {
    let sink = Arc::new(Memory::default());
    let scp = StorageScp::bind("127.0.0.1:0", config, sink.clone())
        .await
        .unwrap();
    let port = scp.local_addr().unwrap().port();
    let (stop, rx) = watch::channel(false);
    tokio::spawn(scp.run(rx));
    let to = Destination {
        ae_title: "CRUCIATE".into(),
        host: "127.0.0.1".into(),
        port,
    };
    (to, sink, stop)
}

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn stores_are_answered_with_the_sinks_status_and_bad_ones_do_not_end_the_service() {
    stores_answered(None).await;
}

/// The same with data sets spooled to files as they arrive: each instance reaches the sink
/// whole, and no spool file outlives its instance (refused ones included).
#[tokio::test]
async fn spooled_data_sets_arrive_whole_and_leave_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let sink = stores_answered(Some(spool.clone())).await;
    {
        let kept = sink.0.lock().unwrap();
        assert!(matches!(
            kept[1].data_set,
            cruciate_dimse::DataSet::Spooled(_)
        ));
        assert_eq!(
            std::fs::read_dir(&spool).unwrap().count(),
            3,
            "the kept ones"
        );
    }
    sink.0.lock().unwrap().clear();
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0);
}

async fn stores_answered(spool: Option<std::path::PathBuf>) -> Arc<Memory> {
    let config = ScpConfig {
        allowed_callers: vec!["MODALITY".into()],
        max_instance_bytes: 100_000,
        spool,
        ..ScpConfig::default()
    };
    let (to, sink, _stop) = start(config).await;
    scu::echo("MODALITY", &to, T).await.unwrap();
    let instances = vec![
        Outgoing::Object(Box::new(mr("1.2.3.1", 1000))),
        // Large enough to travel in several PDUs, still under the cap.
        Outgoing::Object(Box::new(mr("1.2.3.2", 40_000))),
        Outgoing::Raw {
            sop_class_uid: uids::MR_IMAGE_STORAGE.into(),
            sop_instance_uid: "1.2.3.3".into(),
            transfer_syntax: uids::EXPLICIT_VR_LITTLE_ENDIAN.into(),
            bytes: vec![0xFF; 64],
        },
        Outgoing::Object(Box::new(mr("1.2.3.4", 60_000))),
        Outgoing::Object(Box::new(mr("1.2.3.5", 10))),
    ];
    let outcomes = scu::store("MODALITY", &to, &instances, T).await.unwrap();
    let statuses: Vec<u16> = outcomes.iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        vec![
            SUCCESS,
            SUCCESS,
            CANNOT_UNDERSTAND,
            OUT_OF_RESOURCES,
            SUCCESS
        ]
    );
    let kept = sink.0.lock().unwrap();
    assert_eq!(kept.len(), 3);
    assert_eq!(kept[0].calling_ae, "MODALITY");
    assert_eq!(kept[1].sop_instance_uid, "1.2.3.2");
    assert!(
        kept[1].data_set.len() > 80_000,
        "a multi-PDU instance arrives whole"
    );
    drop(kept);
    sink
}

#[tokio::test]
async fn an_unknown_calling_or_called_ae_title_is_rejected_at_association() {
    let config = ScpConfig {
        allowed_callers: vec!["MODALITY".into()],
        ..ScpConfig::default()
    };
    let (to, _sink, _stop) = start(config).await;
    let refused = scu::echo("INTRUDER", &to, T).await.unwrap_err();
    assert!(refused.to_string().contains("association"), "{refused}");
    let wrong = Destination {
        ae_title: "SOMEONE".into(),
        ..to.clone()
    };
    assert!(scu::echo("MODALITY", &wrong, T).await.is_err());
    scu::echo("MODALITY", &to, T).await.unwrap();
}

#[tokio::test]
async fn dcmtk_echoscu_gets_an_answer() {
    let (to, _sink, _stop) = start(ScpConfig::default()).await;
    let Some(echoscu) = cruciate_testkit::system_tool("echoscu") else {
        return;
    };
    let port = to.port.to_string();
    let out = tokio::process::Command::new(echoscu)
        .args(["-aec", "CRUCIATE", "-aet", "TESTSCU", "127.0.0.1", &port])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refused = tokio::process::Command::new("echoscu")
        .args(["-aec", "WRONG", "127.0.0.1", &port])
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
}

/// Connections that never negotiate hold no association slot: with every slot's worth of
/// idle connections open, a C-ECHO is still answered (before, it waited for their read
/// timeout).
#[tokio::test]
async fn idle_connections_do_not_take_the_association_slots() {
    let config = ScpConfig {
        max_associations: 2,
        read_timeout: Duration::from_secs(120),
        ..ScpConfig::default()
    };
    let (to, _sink, _stop) = start(config).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", to.port))
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    scu::echo("ANY", &to, T).await.unwrap();
}

/// Holds every instance it is given until `open` turns true.
#[derive(Default)]
struct Gate {
    open: std::sync::atomic::AtomicBool,
    entered: std::sync::atomic::AtomicUsize,
}

impl InstanceSink for Gate {
    fn store(&self, _instance: Received) -> Result<(), Refusal> {
        use std::sync::atomic::Ordering::SeqCst;
        self.entered.fetch_add(1, SeqCst);
        while !self.open.load(SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

/// Bytes held over all associations are capped: while one sender's instance waits for the
/// sink, another's that would pass the cap is refused (out of resources, so it retries) and its
/// association goes on; once the first is stored, the same instance is taken.
#[tokio::test]
async fn bytes_in_flight_are_capped_over_all_associations() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().unwrap();
    let config = ScpConfig {
        max_bytes_in_flight: 120_000,
        spool: Some(dir.path().to_path_buf()),
        ..ScpConfig::default()
    };
    let gate = Arc::new(Gate::default());
    let scp = StorageScp::bind("127.0.0.1:0", config, gate.clone())
        .await
        .unwrap();
    let to = Destination {
        ae_title: "CRUCIATE".into(),
        host: "127.0.0.1".into(),
        port: scp.local_addr().unwrap().port(),
    };
    let (_stop, rx) = watch::channel(false);
    tokio::spawn(scp.run(rx));
    // 80 KB each: one fits under the cap, two do not.
    let first = vec![Outgoing::Object(Box::new(mr("1.2.3.1", 40_000)))];
    let (to_a, gate_a) = (to.clone(), gate.clone());
    let held = tokio::spawn(async move { scu::store("A", &to_a, &first, T).await.unwrap() });
    while gate_a.entered.load(SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = vec![Outgoing::Object(Box::new(mr("1.2.3.2", 40_000)))];
    let refused = scu::store("B", &to, &second, T).await.unwrap();
    assert_eq!(refused[0].status, OUT_OF_RESOURCES, "{refused:?}");
    assert_eq!(
        gate.entered.load(SeqCst),
        1,
        "the refused one never reached the sink"
    );
    gate.open.store(true, SeqCst);
    assert_eq!(held.await.unwrap()[0].status, SUCCESS);
    let retried = scu::store("B", &to, &second, T).await.unwrap();
    assert_eq!(retried[0].status, SUCCESS, "{retried:?}");
}
