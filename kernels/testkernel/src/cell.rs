//! `execute_request`: the execution counter, and the command language a cell's code is written in.
//!
//! One command per line, run in order; the first failure stops the cell. `kernels/README.md` lists the
//! commands. Outputs are published with the request as parent, and not at all when `silent` is true.

use std::sync::atomic::Ordering;
use std::time::Duration;

use nbgate_protocol::RawMessage;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use zeromq::RouterSendHalf;

use crate::kernel::Kernel;
use crate::sockets;

/// A 1×1 PNG, base64-encoded as Jupyter carries images.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// The size of each stream message `flood` sends.
const FLOOD_CHUNK: usize = 64 * 1024;

/// Runs an `execute_request`. Returns the `execute_reply` content, and whether queued executes must now
/// be aborted (the cell failed and the request asked for `stop_on_error`).
pub async fn execute(
    kernel: &Kernel,
    request: &RawMessage,
    execution_count: &mut u64,
    stdin: &mut Stdin,
) -> (Value, bool) {
    let content = request.content_json().unwrap_or(Value::Null);
    let flag = |name: &str, default: bool| {
        content
            .get(name)
            .and_then(Value::as_bool)
            .unwrap_or(default)
    };
    let code = content.get("code").and_then(Value::as_str).unwrap_or("");
    // jupyter_client's defaults; `silent` implies no history.
    let silent = flag("silent", false);
    let store_history = flag("store_history", true) && !silent;
    let allow_stdin = flag("allow_stdin", false);
    let stop_on_error = flag("stop_on_error", true);

    if store_history {
        *execution_count += 1;
    }
    let count = *execution_count;
    let mut cell = Cell {
        kernel,
        request,
        silent,
        count,
        stdin: allow_stdin.then_some(stdin),
    };
    cell.output(
        "execute_input",
        json!({"code": code, "execution_count": count}),
    );

    kernel.interrupts.start_cell();
    let outcome = cell.run(code).await;
    kernel.interrupts.end_cell();

    match outcome {
        Ok(()) => (
            json!({
                "status": "ok",
                "execution_count": count,
                "user_expressions": {},
                "payload": [],
            }),
            false,
        ),
        Err(Failure { ename, evalue }) => {
            let error = json!({
                "ename": ename,
                "evalue": evalue,
                "traceback": [format!("{ename}: {evalue}")],
            });
            cell.output("error", error.clone());
            let mut reply = json!({"status": "error", "execution_count": count});
            if let (Some(reply), Value::Object(error)) = (reply.as_object_mut(), error) {
                reply.extend(error);
            }
            (reply, stop_on_error)
        }
    }
}

/// The stdin channel as a cell sees it: where `input_request`s go and `input_reply`s come from.
pub struct Stdin {
    send: RouterSendHalf,
    replies: mpsc::UnboundedReceiver<RawMessage>,
}

impl Stdin {
    pub fn new(send: RouterSendHalf, replies: mpsc::UnboundedReceiver<RawMessage>) -> Self {
        Self { send, replies }
    }
}

/// Why a cell stopped early: the `ename` and `evalue` of its error.
struct Failure {
    ename: String,
    evalue: String,
}

fn fail(ename: &str, evalue: impl Into<String>) -> Failure {
    Failure {
        ename: ename.to_owned(),
        evalue: evalue.into(),
    }
}

fn keyboard_interrupt() -> Failure {
    fail("KeyboardInterrupt", "")
}

struct Cell<'a> {
    kernel: &'a Kernel,
    request: &'a RawMessage,
    silent: bool,
    count: u64,
    /// `None` unless the request allowed stdin.
    stdin: Option<&'a mut Stdin>,
}

impl Cell<'_> {
    fn output(&self, msg_type: &str, content: Value) {
        if !self.silent {
            self.kernel
                .publish(msg_type, &content, Some(&self.request.header));
        }
    }

    fn stream(&self, name: &str, text: String) {
        self.output("stream", json!({"name": name, "text": text}));
    }

    async fn run(&mut self, code: &str) -> Result<(), Failure> {
        for line in code.lines() {
            if self.kernel.interrupts.take() {
                return Err(keyboard_interrupt());
            }
            // Leading blanks are indentation; trailing ones belong to the text (`echo` keeps them).
            let line = line.trim_start().trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
            self.command(command, rest).await?;
        }
        Ok(())
    }

    async fn command(&mut self, command: &str, rest: &str) -> Result<(), Failure> {
        match command {
            "echo" => self.stream("stdout", format!("{rest}\n")),
            "stderr" => self.stream("stderr", format!("{rest}\n")),
            "result" => self.output(
                "execute_result",
                json!({
                    "data": {"text/plain": rest},
                    "metadata": {},
                    "execution_count": self.count,
                }),
            ),
            "display" | "update" => {
                let (id, text) = rest.split_once(' ').unwrap_or((rest, ""));
                if id.is_empty() {
                    return Err(fail("ValueError", format!("usage: {command} ID TEXT")));
                }
                let msg_type = match command {
                    "display" => "display_data",
                    _ => "update_display_data",
                };
                self.output(
                    msg_type,
                    json!({
                        "data": {"text/plain": text},
                        "metadata": {},
                        "transient": {"display_id": id},
                    }),
                );
            }
            "html" => self.output(
                "display_data",
                json!({"data": {"text/html": rest}, "metadata": {}, "transient": {}}),
            ),
            "png" => self.output(
                "display_data",
                json!({"data": {"image/png": PNG}, "metadata": {}, "transient": {}}),
            ),
            "clear" => self.output("clear_output", json!({"wait": rest == "wait"})),
            "sleep" => {
                let sleep = tokio::time::sleep(Duration::from_millis(integer(rest)?));
                tokio::select! {
                    () = sleep => {}
                    () = self.kernel.interrupts.wait() => return Err(keyboard_interrupt()),
                }
            }
            "error" => {
                let (ename, evalue) = rest.split_once(' ').unwrap_or((rest, ""));
                return Err(fail(ename, evalue));
            }
            "exit" => return Err(fail("SystemExit", rest)),
            "crash" => self.kernel.exit(1).await,
            "hang" => {
                self.kernel.interrupts.wait().await;
                return Err(keyboard_interrupt());
            }
            "hang-hard" => {
                self.kernel.wedged.store(true, Ordering::SeqCst);
                std::future::pending::<()>().await;
            }
            "flood" => {
                let mut left = usize::try_from(integer(rest)?).unwrap_or(usize::MAX);
                while left > 0 {
                    if self.kernel.interrupts.take() {
                        return Err(keyboard_interrupt());
                    }
                    let size = left.min(FLOOD_CHUNK);
                    self.stream("stdout", "x".repeat(size));
                    left -= size;
                    // Let the publisher drain and interrupts arrive between chunks.
                    tokio::task::yield_now().await;
                }
            }
            "input" => {
                let value = self.input(rest).await?;
                self.stream("stdout", format!("{value}\n"));
            }
            unknown => {
                return Err(fail(
                    "NameError",
                    format!("name '{unknown}' is not defined"),
                ));
            }
        }
        Ok(())
    }

    /// Asks the frontend for a line on stdin, as Python's `input()` does under ipykernel.
    async fn input(&mut self, prompt: &str) -> Result<String, Failure> {
        let Some(stdin) = self.stdin.as_deref_mut() else {
            return Err(fail(
                "StdinNotImplementedError",
                "raw_input was called, but this frontend does not support input requests.",
            ));
        };
        // A reply to an earlier, abandoned prompt must not answer this one.
        while stdin.replies.try_recv().is_ok() {}
        let content = json!({"prompt": prompt, "password": false});
        let request = self.kernel.reply(self.request, "input_request", &content);
        sockets::send(&mut stdin.send, request).await;
        loop {
            let reply = tokio::select! {
                reply = stdin.replies.recv() => reply,
                () = self.kernel.interrupts.wait() => return Err(keyboard_interrupt()),
            };
            let Some(reply) = reply else {
                return Err(fail("EOFError", "stdin is closed"));
            };
            let is_input_reply = reply
                .routing()
                .is_ok_and(|routing| routing.msg_type == "input_reply");
            if !is_input_reply {
                continue;
            }
            let content = reply.content_json().unwrap_or(Value::Null);
            let value = content.get("value").and_then(Value::as_str).unwrap_or("");
            return Ok(value.to_owned());
        }
    }
}

/// Parses a command's number the way Python's `int()` would complain about it.
fn integer(text: &str) -> Result<u64, Failure> {
    text.trim().parse().map_err(|_| {
        fail(
            "ValueError",
            format!("invalid literal for int() with base 10: '{text}'"),
        )
    })
}
