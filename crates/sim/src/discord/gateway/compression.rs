//! Transport compression: `zlib-stream` and `zstd-stream`.

use flate2::{Compress, FlushCompress};

/// Discord's `zstd-stream`: one zstd frame per connection that never ends; every payload is
/// appended to it as whole blocks (what `ZSTD_e_flush` produces), so a streaming decoder yields
/// each payload as soon as its message arrives. Blocks come from the pure-Rust `ruzstd` encoder
/// compressing each payload on its own (it never uses repeat offsets or tables from earlier
/// frames, so its blocks decode the same inside the long frame); matches never reach back into
/// earlier payloads, which costs ratio compared with Discord's, not correctness.
#[derive(Debug, Default)]
pub(super) struct ZstdStream {
    started: bool,
}

/// Frame header of the connection's stream: magic, no content size, not single-segment, no
/// checksum, no dictionary; window 128 KiB (`ruzstd`'s match window, so every match fits).
const ZSTD_STREAM_HEADER: [u8; 6] = [0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x38];

impl ZstdStream {
    pub(super) fn encode(&mut self, input: &[u8]) -> Vec<u8> {
        let frame =
            ruzstd::encoding::compress_to_vec(input, ruzstd::encoding::CompressionLevel::Fastest);
        let mut out = Vec::with_capacity(frame.len() + ZSTD_STREAM_HEADER.len());
        if !self.started {
            out.extend_from_slice(&ZSTD_STREAM_HEADER);
            self.started = true;
        }
        let mut pos = zstd_first_block(&frame).unwrap_or(frame.len());
        while let Some(header) = frame.get(pos..pos + 3) {
            let h = u32::from(header[0]) | u32::from(header[1]) << 8 | u32::from(header[2]) << 16;
            let last = h & 1 == 1;
            let size = usize::try_from(h >> 3).unwrap_or(usize::MAX);
            // Raw and compressed blocks carry `size` bytes, RLE blocks one.
            let len = if (h >> 1) & 3 == 1 { 1 } else { size };
            let Some(body) = frame.get(pos + 3..pos + 3 + len) else {
                break;
            };
            let open = h & !1;
            out.extend_from_slice(&open.to_le_bytes()[..3]);
            out.extend_from_slice(body);
            pos += 3 + len;
            if last {
                break;
            }
        }
        out
    }
}

/// Where the first block of a single zstd frame starts (after magic and frame header).
fn zstd_first_block(frame: &[u8]) -> Option<usize> {
    let descriptor = *frame.get(4)?;
    let single_segment = descriptor & 0x20 != 0;
    let dict_len = [0, 1, 2, 4][usize::from(descriptor & 3)];
    let fcs_len = match descriptor >> 6 {
        0 => usize::from(single_segment),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    Some(5 + usize::from(!single_segment) + dict_len + fcs_len)
}

/// Compresses one payload into the connection's zlib stream, ending with a sync flush
/// (`00 00 ff ff`), as Discord's `zlib-stream` does.
pub(super) fn deflate_sync(z: &mut Compress, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    let start_in = z.total_in();
    loop {
        let consumed = usize::try_from(z.total_in() - start_in).unwrap_or(usize::MAX);
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(256));
        }
        if z.compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
            .is_err()
        {
            break;
        }
        let consumed = usize::try_from(z.total_in() - start_in).unwrap_or(usize::MAX);
        if consumed >= input.len()
            && out.ends_with(&[0, 0, 0xff, 0xff])
            && out.capacity() > out.len()
        {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use flate2::{Compression, Decompress, FlushDecompress};

    use super::*;

    #[test]
    fn zlib_stream_frames_end_with_sync_marker_and_inflate_in_sequence() {
        let mut z = Compress::new(Compression::fast(), true);
        let mut d = Decompress::new(true);
        for i in 0..50 {
            let payload = format!(
                r#"{{"op":0,"s":{i},"t":"X","d":{{"k":"{}"}}}}"#,
                "v".repeat(i * 100)
            );
            let frame = deflate_sync(&mut z, payload.as_bytes());
            assert!(frame.ends_with(&[0, 0, 0xff, 0xff]));
            let mut out = Vec::with_capacity(payload.len() + 64);
            d.decompress_vec(&frame, &mut out, FlushDecompress::Sync)
                .expect("inflate");
            assert_eq!(String::from_utf8(out).expect("utf8"), payload);
        }
    }
}
