//! Paths given by users stay inside the root directory: relative, no `..`, no NUL, and no symlink
//! that leads out (checked on the canonical path). Output folders and names are checked the same way.

use std::path::{Component, Path, PathBuf};

use crate::error::ValidationError;

/// Checks the shape of `path` (relative, no `..`, no NUL, not empty) and returns it joined to `root`.
pub fn confine(root: &Path, path: &str) -> Result<PathBuf, ValidationError> {
    let invalid = |reason: &str| ValidationError::InvalidPath {
        path: path.into(),
        reason: reason.into(),
    };
    if path.trim().is_empty() {
        return Err(invalid("it is empty"));
    }
    if path.contains('\0') {
        return Err(invalid("it contains a NUL character"));
    }
    let relative = Path::new(path);
    for component in relative.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(invalid("`..` is not allowed")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(invalid("it must be relative to the root directory"));
            }
        }
    }
    Ok(root.join(relative))
}

/// [`confine`], then resolves symlinks and checks that the file exists and is still under `root`.
pub fn existing_file(root: &Path, path: &str) -> Result<PathBuf, ValidationError> {
    let joined = confine(root, path)?;
    let canonical = joined
        .canonicalize()
        .map_err(|_| ValidationError::NotebookNotFound { path: path.into() })?;
    let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    if !canonical.starts_with(&canonical_root) {
        return Err(ValidationError::InvalidPath {
            path: path.into(),
            reason: "it leads out of the root directory through a symbolic link".into(),
        });
    }
    if !canonical.is_file() {
        return Err(ValidationError::NotebookNotFound { path: path.into() });
    }
    Ok(canonical)
}

/// [`confine`] for a folder that may not exist yet: the deepest existing ancestor must resolve
/// inside `root` and be a folder.
pub fn output_dir(root: &Path, path: &str) -> Result<PathBuf, ValidationError> {
    let joined = confine(root, path)?;
    let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut existing = joined.as_path();
    while !existing.exists() {
        match existing.parent() {
            Some(parent) => existing = parent,
            None => break,
        }
    }
    match existing.canonicalize() {
        Ok(canonical) if !canonical.starts_with(&canonical_root) => {
            Err(ValidationError::InvalidPath {
                path: path.into(),
                reason: "it leads out of the root directory through a symbolic link".into(),
            })
        }
        Ok(canonical) if !canonical.is_dir() => Err(ValidationError::InvalidPath {
            path: path.into(),
            reason: format!(
                "{} is a file, not a folder",
                existing.strip_prefix(root).unwrap_or(existing).display()
            ),
        }),
        _ => Ok(joined),
    }
}

/// The file `path` names, to delete: [`confine`], its folder must resolve inside `root`, and the file
/// itself must be a regular file (a symbolic link is never followed, nor deleted). `None` when it
/// or its folder does not exist.
pub fn deletable_file(root: &Path, path: &str) -> Result<Option<PathBuf>, ValidationError> {
    let joined = confine(root, path)?;
    let invalid = |reason: &str| ValidationError::InvalidPath {
        path: path.into(),
        reason: reason.into(),
    };
    let (Some(folder), Some(name)) = (joined.parent(), joined.file_name()) else {
        return Err(invalid("it names no file"));
    };
    let Ok(folder) = folder.canonicalize() else {
        return Ok(None);
    };
    let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    if !folder.starts_with(&canonical_root) {
        return Err(invalid(
            "it leads out of the root directory through a symbolic link",
        ));
    }
    let file = folder.join(name);
    match file.symlink_metadata() {
        Ok(meta) if meta.file_type().is_file() => Ok(Some(file)),
        Ok(meta) if meta.file_type().is_symlink() => {
            Err(invalid("it is a symbolic link; nbgate deletes only files"))
        }
        Ok(_) => Err(invalid("it is not a file")),
        Err(_) => Ok(None),
    }
}

/// A schedule name: 1 to 128 of `a-z`, `0-9`, `_`.
pub fn is_valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A notebook's stem turned into a name: lower case, other characters as `_`, at most 100 long.
pub fn name_from_stem(path: &str) -> String {
    let stem = Path::new(path)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or("notebook");
    let mut name: String = stem
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .take(100)
        .collect();
    if name.is_empty() {
        name.push_str("notebook");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_that_escape_are_refused() {
        let root = Path::new("/srv/root");
        for bad in ["", "../x.ipynb", "a/../../x.ipynb", "/etc/passwd", "a\0b"] {
            assert!(confine(root, bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            confine(root, "a/./b.ipynb").expect("ok"),
            Path::new("/srv/root/a/./b.ipynb")
        );
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let outside = tempfile::tempdir().expect("tmp");
        std::fs::write(outside.path().join("secret.ipynb"), "{}").expect("write");
        let root = tempfile::tempdir().expect("tmp");
        std::os::unix::fs::symlink(outside.path(), root.path().join("link")).expect("symlink");
        std::fs::write(root.path().join("in.ipynb"), "{}").expect("write");
        let error = existing_file(root.path(), "link/secret.ipynb").expect_err("escape");
        assert!(error.to_string().contains("symbolic link"), "{error}");
        assert!(existing_file(root.path(), "in.ipynb").is_ok());
        assert!(matches!(
            existing_file(root.path(), "missing.ipynb"),
            Err(ValidationError::NotebookNotFound { .. })
        ));
        assert!(output_dir(root.path(), "link/out").is_err());
        assert!(output_dir(root.path(), "new/out").is_ok());
        // A file where a folder must be (the run would fail later): refused now, naming the file.
        for under_a_file in ["in.ipynb", "in.ipynb/out"] {
            let error = output_dir(root.path(), under_a_file).expect_err("a file");
            assert!(
                error
                    .to_string()
                    .contains("in.ipynb is a file, not a folder"),
                "{error}"
            );
        }
    }

    #[test]
    fn only_files_under_the_root_are_deletable() {
        let outside = tempfile::tempdir().expect("tmp");
        std::fs::write(outside.path().join("out.ipynb"), "{}").expect("write");
        let root = tempfile::tempdir().expect("tmp");
        std::os::unix::fs::symlink(outside.path(), root.path().join("link")).expect("symlink");
        std::os::unix::fs::symlink(
            outside.path().join("out.ipynb"),
            root.path().join("a.ipynb"),
        )
        .expect("symlink");
        std::fs::create_dir(root.path().join("dir.ipynb")).expect("mkdir");
        std::fs::write(root.path().join("in.ipynb"), "{}").expect("write");
        for (path, reason) in [
            ("link/out.ipynb", "out of the root directory"),
            ("a.ipynb", "symbolic link"),
            ("dir.ipynb", "not a file"),
            ("../out.ipynb", "`..`"),
        ] {
            let error = deletable_file(root.path(), path).expect_err(path);
            assert!(error.to_string().contains(reason), "{path}: {error}");
        }
        assert_eq!(deletable_file(root.path(), "gone.ipynb").expect("ok"), None);
        assert_eq!(
            deletable_file(root.path(), "no/such.ipynb").expect("ok"),
            None
        );
        let file = deletable_file(root.path(), "in.ipynb")
            .expect("ok")
            .expect("some");
        assert!(file.ends_with("in.ipynb") && file.is_file());
        assert!(outside.path().join("out.ipynb").is_file());
    }

    #[test]
    fn names() {
        assert!(is_valid_name("daily_report_2"));
        for bad in ["", "Daily", "a-b", "a b", &"x".repeat(129)] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
        assert_eq!(name_from_stem("dir/My Report-1.ipynb"), "my_report_1");
    }
}
