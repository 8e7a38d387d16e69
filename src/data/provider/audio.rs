//! A local audio file checked before it is uploaded for feature extraction: size and
//! format from its first bytes (not its name), so nothing is sent that the service refuses.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Largest file the analysis endpoint accepts (its documented 5 MB, read strictly).
pub const MAX_BYTES: u64 = 5_000_000;

/// Formats the analysis endpoint accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    Mp3,
    Ogg,
    Wav,
    Aiff,
}

impl AudioFormat {
    pub fn extension(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Ogg => "ogg",
            AudioFormat::Wav => "wav",
            AudioFormat::Aiff => "aiff",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "audio/mpeg",
            AudioFormat::Ogg => "audio/ogg",
            AudioFormat::Wav => "audio/wav",
            AudioFormat::Aiff => "audio/aiff",
        }
    }

    /// The format of a file starting with `head`, if it is one of these.
    pub fn sniff(head: &[u8]) -> Option<AudioFormat> {
        match head {
            [b'I', b'D', b'3', ..] => Some(AudioFormat::Mp3),
            // An MPEG audio frame sync: 11 set bits.
            [0xFF, b, ..] if b & 0xE0 == 0xE0 => Some(AudioFormat::Mp3),
            [b'O', b'g', b'g', b'S', ..] => Some(AudioFormat::Ogg),
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'A', b'V', b'E', ..] => {
                Some(AudioFormat::Wav)
            }
            [b'F', b'O', b'R', b'M', _, _, _, _, b'A', b'I', b'F', b'F' | b'C', ..] => {
                Some(AudioFormat::Aiff)
            }
            _ => None,
        }
    }
}

/// An audio file that passed the local checks.
#[derive(Debug, Clone)]
pub struct AudioFile {
    pub path: PathBuf,
    pub format: AudioFormat,
    pub bytes: Vec<u8>,
}

impl AudioFile {
    /// Reads and checks `path`: at most [`MAX_BYTES`] (the size is checked before reading,
    /// and the read is bounded), and MP3, OGG, WAV or AIFF by content.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::Input`] naming the file for a
    /// file too large, empty or of another format.
    pub fn open(path: &Path) -> Result<AudioFile> {
        let shown = super::http::printable(&path.display().to_string());
        let file = std::fs::File::open(path).map_err(|e| Error::io(&shown, e))?;
        let size = file.metadata().map_err(|e| Error::io(&shown, e))?.len();
        let too_large = |size: u64| {
            Error::Input(format!(
                "{shown}: {size} bytes; the analysis service accepts at most {MAX_BYTES} (5 MB): trim or re-encode it, e.g. a 30-second excerpt"
            ))
        };
        if size > MAX_BYTES {
            return Err(too_large(size));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(&shown, e))?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(too_large(bytes.len() as u64));
        }
        if bytes.is_empty() {
            return Err(Error::Input(format!("{shown}: the file is empty")));
        }
        let format = AudioFormat::sniff(&bytes).ok_or_else(|| {
            Error::Input(format!(
                "{shown}: not an MP3, OGG, WAV or AIFF file (judged by its first bytes), the formats the analysis service accepts"
            ))
        })?;
        Ok(AudioFile {
            path: path.to_path_buf(),
            format,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_judged_by_content() {
        assert_eq!(AudioFormat::sniff(b"ID3\x04rest"), Some(AudioFormat::Mp3));
        assert_eq!(
            AudioFormat::sniff(&[0xFF, 0xFB, 0x90]),
            Some(AudioFormat::Mp3)
        );
        assert_eq!(AudioFormat::sniff(b"OggS\0"), Some(AudioFormat::Ogg));
        assert_eq!(
            AudioFormat::sniff(b"RIFF\x24\0\0\0WAVEfmt "),
            Some(AudioFormat::Wav)
        );
        assert_eq!(
            AudioFormat::sniff(b"FORM\0\0\0\x10AIFC"),
            Some(AudioFormat::Aiff)
        );
        assert_eq!(AudioFormat::sniff(b"fLaC\0\0"), None);
        assert_eq!(AudioFormat::sniff(b"PK\x03\x04"), None);
        assert_eq!(AudioFormat::sniff(b"RIFF\x24\0\0\0AVI "), None);
        assert_eq!(AudioFormat::sniff(b""), None);
    }
}
