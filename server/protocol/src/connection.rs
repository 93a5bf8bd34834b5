//! Connection files: the JSON a kernel is started with (ports, transport, key, scheme).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use jupyter_protocol::ConnectionInfo;

use crate::error::ProtocolError;

/// Reads a connection file.
pub fn read_connection_file(path: &Path) -> Result<ConnectionInfo, ProtocolError> {
    let fail = |reason: String| ProtocolError::ConnectionFile {
        path: path.to_owned(),
        reason,
    };
    let text = fs::read(path).map_err(|error| fail(error.to_string()))?;
    serde_json::from_slice(&text).map_err(|error| fail(error.to_string()))
}

/// Writes a connection file readable by its owner only (mode 0600), replacing any old one.
pub fn write_connection_file(path: &Path, info: &ConnectionInfo) -> Result<(), ProtocolError> {
    let fail = |reason: String| ProtocolError::ConnectionFile {
        path: path.to_owned(),
        reason,
    };
    let text = serde_json::to_vec_pretty(info).map_err(|error| fail(error.to_string()))?;
    // Remove first: `mode` applies only when the file is created.
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(fail(error.to_string())),
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|error| fail(error.to_string()))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .map_err(|error| fail(error.to_string()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use jupyter_protocol::connection_info::Transport;

    use super::*;

    fn info() -> ConnectionInfo {
        ConnectionInfo {
            ip: "127.0.0.1".into(),
            transport: Transport::TCP,
            shell_port: 57503,
            iopub_port: 40885,
            stdin_port: 52597,
            control_port: 50160,
            hb_port: 42540,
            key: "a0436f6c-1916-498b-8eb9-e81ab9368e84".into(),
            signature_scheme: "hmac-sha256".into(),
            kernel_name: Some("python3".into()),
        }
    }

    #[test]
    fn written_file_is_private_and_reads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("kernel-1.json");
        write_connection_file(&path, &info()).expect("written");
        let mode = fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_connection_file(&path).expect("read"), info());
        // Rewriting keeps the mode even if someone loosened it.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        write_connection_file(&path, &info()).expect("rewritten");
        let mode = fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn reads_the_file_jupyter_client_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("kernel-2.json");
        fs::write(
            &path,
            r#"{"shell_port": 57503, "iopub_port": 40885, "stdin_port": 52597, "control_port": 50160,
                "hb_port": 42540, "ip": "127.0.0.1", "key": "a0436f6c-1916-498b-8eb9-e81ab9368e84",
                "transport": "tcp", "signature_scheme": "hmac-sha256", "kernel_name": "python3",
                "jupyter_session": "/home/u/x.ipynb"}"#,
        )
        .expect("write");
        assert_eq!(read_connection_file(&path).expect("read"), info());
    }

    #[test]
    fn missing_or_broken_file_names_the_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nope.json");
        let error = read_connection_file(&path).expect_err("missing");
        assert!(error.to_string().contains("nope.json"), "{error}");
        fs::write(&path, "{").expect("write");
        assert!(read_connection_file(&path).is_err());
    }
}
