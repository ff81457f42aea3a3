//! Reading an input file (a recording for `report`, either input of `diff`) whole into
//! memory, safely: only regular files are read, so a FIFO cannot block framescope and a
//! device such as `/dev/zero` cannot feed it until memory runs out, and no more than
//! [`MAX_INPUT_BYTES`] are read. What the bytes mean is for the caller to decide.

use std::fs::{File, FileType};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};
use crate::limits::MAX_INPUT_BYTES;

/// Reads the regular file at `path`; any other kind of file, or one larger than
/// [`MAX_INPUT_BYTES`], is refused with a message naming the file and why.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. The file
    // is checked on the open descriptor, so it cannot be swapped after the check.
    let mut file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::bad_file(path, open_error(&e)))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::bad_file(path, format!("cannot read it: {e}")))?;
    if !meta.is_file() {
        return Err(Error::bad_file(
            path,
            format!(
                "is {}, not a regular file; framescope reads its inputs from regular files only",
                kind(meta.file_type())
            ),
        ));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(too_large(path));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte more than the limit tells a file that grew past it from one that did not.
    (&mut file)
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::bad_file(path, format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_large(path));
    }
    Ok(bytes)
}

fn open_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        _ => format!("cannot read it: {e}"),
    }
}

fn too_large(path: &Path) -> Error {
    Error::bad_file(
        path,
        format!(
            "the file is larger than the {} MiB framescope reads as an input",
            MAX_INPUT_BYTES >> 20
        ),
    )
}

/// What a file that is not a regular file is, for the message refusing it.
fn kind(t: FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::testutil::TempPath;

    fn refusal(path: &Path) -> String {
        match read(path) {
            Ok(bytes) => panic!("{} was read: {} bytes", path.display(), bytes.len()),
            Err(e) => {
                assert_eq!(e.exit_code(), 8);
                e.to_string()
            }
        }
    }

    #[test]
    fn only_regular_files_are_read() {
        let file = TempPath::new("regular");
        std::fs::write(&file.0, b"main 3\n").unwrap();
        assert_eq!(read(&file.0).unwrap(), b"main 3\n");

        let fifo = TempPath::new("fifo");
        let c_path = std::ffi::CString::new(fifo.0.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        assert_eq!(
            refusal(&fifo.0),
            format!(
                "{}: is a FIFO (named pipe), not a regular file; framescope reads its inputs from regular files only",
                fifo.0.display()
            )
        );
        assert_eq!(
            refusal(Path::new("/dev/zero")),
            "/dev/zero: is a character device, not a regular file; framescope reads its inputs from regular files only"
        );
        assert!(refusal(Path::new("/")).starts_with("/: is a directory, not a regular file"));
        assert_eq!(
            refusal(Path::new("/nonexistent/framescope.fsr")),
            "/nonexistent/framescope.fsr: no such file"
        );
    }

    #[test]
    fn files_over_the_limit_are_refused_unread() {
        let big = TempPath::new("big");
        let file = File::create(&big.0).unwrap();
        // Sparse: no disk space used.
        file.set_len(MAX_INPUT_BYTES + 1).unwrap();
        assert_eq!(
            refusal(&big.0),
            format!(
                "{}: the file is larger than the 1024 MiB framescope reads as an input",
                big.0.display()
            )
        );
    }
}
