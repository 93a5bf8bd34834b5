//! Bringing a kernel up: launch, connect every socket, wait for readiness. Used by the first start and by
//! every restart; on any error the half-started process is killed (its guard drops).

use std::collections::HashMap;

use jupyter_protocol::ConnectionInfo;
use nbgate_protocol::{Channel, RawMessage};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::time::{Duration, Instant};

use crate::actor::{Config, ConnId, MAIN, Running};
use crate::error::{KernelError, Result};
use crate::events::KernelEvent;
use crate::launch::{LaunchPlan, Launched, launch};
use crate::process::KernelProcess;
use crate::sockets::{DealerSet, connect_iopub, spawn_heartbeat};

/// How long readiness waits for a `kernel_info_reply` before asking again, and then for any iopub
/// message (jupyter_client's values).
const KERNEL_INFO_RETRY: Duration = Duration::from_secs(1);
const IOPUB_AFTER_REPLY: Duration = Duration::from_millis(200);

pub(crate) struct Booted {
    pub(crate) running: Running,
    pub kernel_info: Value,
}

impl Booted {
    pub fn pid(&self) -> u32 {
        self.running.process.pid()
    }

    pub fn info(&self) -> &ConnectionInfo {
        &self.running.info
    }
}

/// Launches, connects and waits for readiness. On any error the process is killed (its guard drops).
pub(crate) async fn boot(
    config: &Config,
    shared: &broadcast::Sender<KernelEvent>,
    conns: &[(ConnId, &[u8], &broadcast::Sender<KernelEvent>)],
) -> Result<Booted> {
    let deadline = Instant::now() + config.options.start_timeout;
    let Launched { process, info } = launch(&LaunchPlan {
        spec: &config.spec,
        options: &config.options,
        connection_file: &config.connection_file,
        key: &config.key,
        deadline,
    })
    .await?;
    let connect_and_wait = async {
        // Subscribe before any reader exists so readiness sees every message.
        let mut shared_events = shared.subscribe();
        let main_replies = conns
            .iter()
            .find(|(conn, ..)| *conn == MAIN)
            .map(|(.., replies)| *replies)
            .expect("the main connection always exists");
        let mut replies = main_replies.subscribe();
        let iopub = connect_iopub(&info, &config.signer, shared, deadline);
        let dealers = async {
            let mut dealers = HashMap::new();
            for (conn, identity, replies) in conns {
                let set =
                    DealerSet::connect(&info, identity, &config.signer, replies, deadline).await?;
                dealers.insert(*conn, set);
            }
            Ok::<_, KernelError>(dealers)
        };
        let (iopub, mut dealers) = tokio::try_join!(iopub, dealers)?;
        let main = dealers.get_mut(&MAIN).expect("connected above");
        let kernel_info =
            wait_ready(config, main, &mut shared_events, &mut replies, deadline).await?;
        Ok::<_, KernelError>((iopub, dealers, kernel_info))
    };
    let exited = process.exited();
    let result = tokio::select! {
        result = connect_and_wait => result,
        status = exited => Err(KernelError::DiedDuringStart {
            name: config.spec.name.clone(),
            status,
            stderr: String::new(),
        }),
    };
    match result {
        Ok((iopub, dealers, kernel_info)) => {
            let heartbeat = spawn_heartbeat(info.clone(), config.options.heartbeat, shared.clone());
            Ok(Booted {
                running: Running {
                    process,
                    info,
                    dealers,
                    _iopub: iopub,
                    _heartbeat: heartbeat,
                },
                kernel_info,
            })
        }
        Err(error) => Err(with_stderr(error, &config.spec.name, &process)),
    }
}

/// Adds the process's stderr tail to a start-up error, and turns any failure of a process that has
/// exited meanwhile into [`KernelError::DiedDuringStart`] (the exit is the real cause).
fn with_stderr(error: KernelError, name: &str, process: &KernelProcess) -> KernelError {
    let stderr = process.stderr_tail();
    if let Some(status) = process.exit_status()
        && !matches!(error, KernelError::BadSignatures { .. })
    {
        return KernelError::DiedDuringStart {
            name: name.to_owned(),
            status,
            stderr,
        };
    }
    match error {
        KernelError::StartTimeout {
            name,
            timeout,
            stage,
            ..
        } => KernelError::StartTimeout {
            name,
            timeout,
            stage,
            stderr,
        },
        KernelError::BadSignatures { name, channel, .. } => KernelError::BadSignatures {
            name,
            channel,
            stderr,
        },
        other => other,
    }
}

/// Readiness (JEP 65 with jupyter_client's fallback): ask `kernel_info` until a reply arrives *and* some
/// iopub message has been seen — `iopub_welcome` from an XPUB kernel, else the `status` messages of our
/// own request. Returns the reply's content.
async fn wait_ready(
    config: &Config,
    main: &mut DealerSet,
    shared: &mut broadcast::Receiver<KernelEvent>,
    replies: &mut broadcast::Receiver<KernelEvent>,
    deadline: Instant,
) -> Result<Value> {
    let name = &config.spec.name;
    let timeout = |stage| KernelError::StartTimeout {
        name: name.clone(),
        timeout: config.options.start_timeout,
        stage,
        stderr: String::new(),
    };
    let bad = |channel| KernelError::BadSignatures {
        name: name.clone(),
        channel,
        stderr: String::new(),
    };
    let mut iopub_seen = false;
    let mut reply: Option<Value> = None;
    loop {
        let request = RawMessage::new_typed(
            jupyter_protocol::KernelInfoRequest {},
            &config.session,
            None,
            &config.signer,
        );
        main.send(Channel::Shell, request)
            .await
            .map_err(|reason| KernelError::Send {
                id: config.id.clone(),
                channel: Channel::Shell,
                reason,
            })?;
        let mut retry_at = Instant::now() + KERNEL_INFO_RETRY;
        loop {
            if reply.is_some() && iopub_seen {
                return Ok(reply.unwrap_or_default());
            }
            tokio::select! {
                () = tokio::time::sleep_until(retry_at.min(deadline)) => {
                    if Instant::now() >= deadline {
                        return Err(timeout(if reply.is_none() {
                            "waiting for kernel_info_reply"
                        } else {
                            "waiting for the first iopub message"
                        }));
                    }
                    break; // ask again
                }
                event = shared.recv() => match event {
                    Ok(KernelEvent::Message { channel: Channel::IoPub, .. }) => iopub_seen = true,
                    Ok(KernelEvent::BadSignature { channel }) => return Err(bad(channel)),
                    _ => {}
                },
                event = replies.recv() => match event {
                    Ok(KernelEvent::Message { channel: Channel::Shell, message }) => {
                        let is_reply = message
                            .routing()
                            .is_ok_and(|routing| routing.msg_type == "kernel_info_reply");
                        if is_reply && reply.is_none() {
                            reply = Some(message.content_json().unwrap_or_default());
                            retry_at = Instant::now() + IOPUB_AFTER_REPLY;
                        }
                    }
                    Ok(KernelEvent::BadSignature { channel }) => return Err(bad(channel)),
                    _ => {}
                },
            }
        }
    }
}
