//! The kernel speaks the wire protocol: readiness by connection-file rewrite, welcomes, signatures,
//! busy/idle around every request, replies for every request type, heartbeat, IPC.

mod support;

use nbgate_protocol::jupyter_protocol::connection_info::Transport;
use nbgate_protocol::{Channel, Signer};
use serde_json::json;
use support::{Client, TestKernel, msg_type, parent_msg_id, types};
use zeromq::{ReqSocket, Socket, SocketRecv, SocketSend, ZmqMessage};

#[tokio::test]
async fn kernel_info_round_trip_is_signed_and_wrapped_in_busy_idle() {
    let kernel = TestKernel::start(&[]).await;
    assert!(
        [
            kernel.info.iopub_port,
            kernel.info.control_port,
            kernel.info.hb_port
        ]
        .iter()
        .all(|port| *port != 0),
        "every port rewritten: {:?}",
        kernel.info
    );
    let (mut client, welcome) = Client::connect(&kernel.info).await;
    assert_eq!(
        welcome.content_json().expect("content"),
        json!({"subscription": ""})
    );
    assert!(
        welcome.identities.is_empty(),
        "no topic for the empty subscription"
    );

    for channel in [Channel::Shell, Channel::Control] {
        let request = client.send(channel, "kernel_info_request", json!({})).await;
        let (reply_type, content) = client.reply_to(channel, &request).await;
        assert_eq!(reply_type, "kernel_info_reply");
        assert_eq!(content["status"], "ok");
        assert_eq!(content["protocol_version"], "5.3");
        assert_eq!(content["implementation"], "nbgate-testkernel");
        assert_eq!(
            content["language_info"],
            json!({"name": "testlang", "version": "1.0", "mimetype": "text/plain", "file_extension": ".txt"})
        );
        let iopub = client.iopub_for(&request).await;
        assert_eq!(
            iopub,
            vec![
                ("status".into(), json!({"execution_state": "busy"})),
                ("status".into(), json!({"execution_state": "idle"})),
            ]
        );
    }
}

#[tokio::test]
async fn unknown_and_minimal_requests_get_replies() {
    let kernel = TestKernel::start(&[]).await;
    let (mut client, _) = Client::connect(&kernel.info).await;

    let request = client
        .send(
            Channel::Shell,
            "complete_request",
            json!({"code": "e", "cursor_pos": 1}),
        )
        .await;
    let (reply_type, content) = client.reply_to(Channel::Shell, &request).await;
    assert_eq!(reply_type, "complete_reply");
    assert_eq!(content["status"], "error");

    let request = client
        .send(
            Channel::Shell,
            "is_complete_request",
            json!({"code": "echo"}),
        )
        .await;
    let (reply_type, content) = client.reply_to(Channel::Shell, &request).await;
    assert_eq!(
        (reply_type.as_str(), content),
        ("is_complete_reply", json!({"status": "complete"}))
    );

    let request = client
        .send(Channel::Shell, "comm_info_request", json!({}))
        .await;
    let (reply_type, content) = client.reply_to(Channel::Shell, &request).await;
    assert_eq!(
        (reply_type.as_str(), content),
        ("comm_info_reply", json!({"status": "ok", "comms": {}}))
    );
}

#[tokio::test]
async fn bad_signature_flag_signs_with_a_wrong_key() {
    let kernel = TestKernel::start(&["--bad-signature"]).await;
    let (mut client, welcome) = Client::connect(&kernel.info).await;
    assert!(
        client
            .signer
            .verify(&welcome.signature, welcome.parts())
            .is_err()
    );

    let request = client
        .send(Channel::Shell, "kernel_info_request", json!({}))
        .await;
    let reply = client.recv_unverified(Channel::Shell).await;
    assert_eq!(msg_type(&reply), "kernel_info_reply");
    assert_eq!(parent_msg_id(&reply), support::msg_id(&request));
    assert!(!reply.signature.is_empty());
    assert!(
        client
            .signer
            .verify(&reply.signature, reply.parts())
            .is_err(),
        "a reply signed with the right key"
    );
}

#[tokio::test]
async fn requests_with_a_bad_signature_are_dropped_and_logged() {
    let kernel = TestKernel::start(&[]).await;
    let (mut client, _) = Client::connect(&kernel.info).await;
    let good = client.signer.clone();

    client.signer = Signer::new("hmac-sha256", b"wrong key").expect("signer");
    client
        .send(Channel::Shell, "kernel_info_request", json!({}))
        .await;
    client.signer = good;
    let request = client
        .send(Channel::Shell, "kernel_info_request", json!({}))
        .await;
    // The first reply on shell answers the second request: the first was dropped.
    client.reply_to(Channel::Shell, &request).await;

    let request = client
        .send(
            Channel::Control,
            "shutdown_request",
            json!({"restart": false}),
        )
        .await;
    client.reply_to(Channel::Control, &request).await;
    let (status, stderr) = kernel.exit().await;
    assert!(status.success(), "{status}");
    assert_eq!(stderr.matches("Invalid Signature").count(), 1, "{stderr}");
}

#[tokio::test]
async fn heartbeat_echoes() {
    let kernel = TestKernel::start(&[]).await;
    let mut heartbeat = ReqSocket::new();
    let url = format!("tcp://{}:{}", kernel.info.ip, kernel.info.hb_port);
    heartbeat.connect(&url).await.expect("connect");
    heartbeat
        .send(ZmqMessage::from("ping"))
        .await
        .expect("send");
    let pong = tokio::time::timeout(support::PATIENCE, heartbeat.recv())
        .await
        .expect("in time")
        .expect("pong");
    assert_eq!(pong.into_vec(), vec![bytes::Bytes::from_static(b"ping")]);
}

#[tokio::test]
async fn ipc_transport_with_port_zero_picks_free_paths() {
    let kernel = TestKernel::start_on(Transport::IPC, &[]).await;
    let ports = [
        kernel.info.shell_port,
        kernel.info.iopub_port,
        kernel.info.stdin_port,
        kernel.info.control_port,
        kernel.info.hb_port,
    ];
    for port in ports {
        let path = format!("{}-{port}", kernel.info.ip);
        assert!(std::path::Path::new(&path).exists(), "{path} is bound");
    }
    let (mut client, _) = Client::connect(&kernel.info).await;
    let request = client.execute("echo over ipc", json!({})).await;
    let iopub = client.iopub_for(&request).await;
    assert_eq!(
        iopub[2],
        (
            "stream".into(),
            json!({"name": "stdout", "text": "over ipc\n"})
        )
    );
    assert_eq!(types(&iopub).len(), 4);
}

#[tokio::test]
async fn start_delay_postpones_the_rewrite() {
    let started = std::time::Instant::now();
    let _kernel = TestKernel::start(&["--start-delay-ms", "300"]).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

#[tokio::test]
async fn no_welcome_flag_publishes_no_welcome() {
    let kernel = TestKernel::start(&["--no-welcome"]).await;
    let mut client = Client::connect_without_welcome(&kernel.info).await;
    // jupyter_client's readiness loop for pre-5.5 kernels: kernel_info until iopub traffic shows up.
    loop {
        let request = client
            .send(Channel::Shell, "kernel_info_request", json!({}))
            .await;
        client.reply_to(Channel::Shell, &request).await;
        let Some(first) = client
            .try_recv_iopub(std::time::Duration::from_millis(200))
            .await
        else {
            continue; // the subscription had not reached the kernel yet
        };
        assert_ne!(msg_type(&first), "iopub_welcome");
        if parent_msg_id(&first) == support::msg_id(&request) {
            return;
        }
    }
}
