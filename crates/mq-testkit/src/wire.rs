//! Just enough of the Redis (RESP) and MongoDB (OP_MSG) wire protocols to tell that a server
//! answers, without depending on the client libraries whose use by mq is what tests examine.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{bail, ensure, Context as _};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Longest RESP line or OP_MSG reply accepted; the probes' answers are far smaller.
const MAX_REPLY: usize = 1 << 20;

/// Whether the Redis server on `addr` answers `PING` with `+PONG`.
pub(crate) async fn redis_ping(addr: SocketAddr) -> anyhow::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    let mut stream = BufReader::new(stream);
    stream.get_mut().write_all(b"PING\r\n").await?;
    let line = read_line(&mut stream).await?;
    ensure!(line == "+PONG", "PING answered {line:?}");
    Ok(())
}

/// Whether the Redis server on `addr` answers and runs in `dir` (its `CONFIG GET dir`), which
/// tells our spawned server from another that won a race for the port.
pub(crate) async fn redis_ready_in(addr: SocketAddr, dir: &Path) -> anyhow::Result<bool> {
    let stream = TcpStream::connect(addr).await?;
    let mut stream = BufReader::new(stream);
    stream.get_mut().write_all(b"PING\r\nCONFIG GET dir\r\n").await?;
    let pong = read_line(&mut stream).await?;
    ensure!(pong == "+PONG", "PING answered {pong:?}");
    let header = read_line(&mut stream).await?;
    if header.starts_with('-') {
        // A server that refuses CONFIG (renamed command, ACL) is not one we configured.
        return Ok(false);
    }
    ensure!(header == "*2", "CONFIG GET dir answered {header:?}");
    let _key = read_bulk(&mut stream).await?;
    let value = read_bulk(&mut stream).await?;
    Ok(same_dir(Path::new(&value), dir))
}

fn same_dir(reported: &Path, ours: &Path) -> bool {
    // The server reports its working directory after chdir, with symlinks resolved.
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    canonical(reported) == canonical(ours)
}

async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> anyhow::Result<String> {
    let mut line = Vec::new();
    let n = (&mut *reader).take(MAX_REPLY as u64).read_until(b'\n', &mut line).await?;
    ensure!(n > 0, "connection closed before a reply");
    ensure!(line.ends_with(b"\r\n"), "reply line not terminated by CRLF");
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

async fn read_bulk<R: AsyncBufRead + Unpin>(reader: &mut R) -> anyhow::Result<String> {
    let header = read_line(reader).await?;
    let Some(len) = header.strip_prefix('$') else {
        bail!("expected a bulk string, got {header:?}")
    };
    let len: usize = len.parse().with_context(|| format!("bad bulk length in {header:?}"))?;
    ensure!(len <= MAX_REPLY, "bulk string of {len} bytes");
    let mut body = vec![0_u8; len + 2];
    reader.read_exact(&mut body).await?;
    body.truncate(len);
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A RESP reply, as far as the fixtures read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resp {
    /// `+text` or `$n` bulk text (`None` for a null bulk).
    Text(Option<String>),
    /// `:n`.
    Int(i64),
    /// `*n` (`None` for a null array).
    Array(Option<Vec<Resp>>),
    /// `-message`.
    Error(String),
}

impl Resp {
    /// The text of a simple or bulk string.
    pub(crate) fn text(&self) -> anyhow::Result<&str> {
        match self {
            Resp::Text(Some(text)) => Ok(text),
            other => bail!("expected text, got {other:?}"),
        }
    }

    /// The items of an array.
    pub(crate) fn items(&self) -> anyhow::Result<&[Resp]> {
        match self {
            Resp::Array(Some(items)) => Ok(items),
            other => bail!("expected an array, got {other:?}"),
        }
    }

    /// The value of an integer.
    pub(crate) fn int(&self) -> anyhow::Result<i64> {
        match self {
            Resp::Int(n) => Ok(*n),
            other => bail!("expected an integer, got {other:?}"),
        }
    }
}

/// Sends one command to the Redis server on `addr` on a fresh connection and reads its reply
/// (an error reply is `Ok(Resp::Error)`). For fixtures that manage servers, not for mq.
pub(crate) async fn redis_command(addr: SocketAddr, args: &[&str]) -> anyhow::Result<Resp> {
    let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    let mut stream = BufReader::new(stream);
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.get_mut().write_all(request.as_bytes()).await?;
    read_resp(&mut stream).await
}

fn read_resp<'a, R: AsyncBufRead + Unpin + Send>(
    reader: &'a mut R,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<Resp>> + Send + 'a>> {
    Box::pin(async move {
        let line = read_line(reader).await?;
        let (kind, rest) = line.split_at(line.len().min(1));
        Ok(match kind {
            "+" => Resp::Text(Some(rest.to_owned())),
            "-" => Resp::Error(rest.to_owned()),
            ":" => Resp::Int(rest.parse().with_context(|| format!("bad integer {line:?}"))?),
            "$" if rest == "-1" => Resp::Text(None),
            "$" => {
                let len: usize = rest.parse().with_context(|| format!("bad length {line:?}"))?;
                ensure!(len <= MAX_REPLY, "bulk string of {len} bytes");
                let mut body = vec![0_u8; len + 2];
                reader.read_exact(&mut body).await?;
                body.truncate(len);
                Resp::Text(Some(String::from_utf8_lossy(&body).into_owned()))
            }
            "*" if rest == "-1" => Resp::Array(None),
            "*" => {
                let n: usize = rest.parse().with_context(|| format!("bad count {line:?}"))?;
                ensure!(n <= MAX_REPLY, "array of {n} items");
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(read_resp(reader).await?);
                }
                Resp::Array(Some(items))
            }
            _ => bail!("unexpected reply line {line:?}"),
        })
    })
}

/// Whether the server on `addr` answers a MongoDB `hello` command with `ok: 1`; the answer
/// says whether it accepts writes (`isWritablePrimary`), which a replica set member only does
/// once it has been elected.
pub(crate) async fn mongo_hello(addr: SocketAddr) -> anyhow::Result<bool> {
    let mut stream = TcpStream::connect(addr).await?;
    let request_id = 1_i32;
    stream.write_all(&hello_message(request_id)).await?;

    let mut header = [0_u8; 16];
    stream.read_exact(&mut header).await?;
    let length = le_i32(&header[0..4]);
    let response_to = le_i32(&header[8..12]);
    let op_code = le_i32(&header[12..16]);
    ensure!(op_code == OP_MSG, "reply has opCode {op_code}, not OP_MSG");
    ensure!(response_to == request_id, "reply answers request {response_to}");
    let body_len = usize::try_from(length).unwrap_or(0).saturating_sub(16);
    ensure!((6..=MAX_REPLY).contains(&body_len), "reply of {length} bytes");
    let mut body = vec![0_u8; body_len];
    stream.read_exact(&mut body).await?;
    ensure!(reply_is_ok(&body), "hello reply lacks ok: 1");
    Ok(bool_field(&body, b"isWritablePrimary"))
}

const OP_MSG: i32 = 2013;

/// OP_MSG `{hello: 1, $db: "admin"}` as one body section.
fn hello_message(request_id: i32) -> Vec<u8> {
    let mut doc = Vec::new();
    doc.extend_from_slice(&[0; 4]);
    // int32 element "hello": 1
    doc.push(0x10);
    doc.extend_from_slice(b"hello\0");
    doc.extend_from_slice(&1_i32.to_le_bytes());
    // string element "$db": "admin"
    doc.push(0x02);
    doc.extend_from_slice(b"$db\0");
    doc.extend_from_slice(&6_i32.to_le_bytes());
    doc.extend_from_slice(b"admin\0");
    doc.push(0);
    let doc_len = doc.len() as i32;
    doc[0..4].copy_from_slice(&doc_len.to_le_bytes());

    let mut msg = Vec::new();
    let total = (16 + 4 + 1 + doc.len()) as i32;
    msg.extend_from_slice(&total.to_le_bytes());
    msg.extend_from_slice(&request_id.to_le_bytes());
    msg.extend_from_slice(&0_i32.to_le_bytes());
    msg.extend_from_slice(&OP_MSG.to_le_bytes());
    msg.extend_from_slice(&0_u32.to_le_bytes()); // flagBits
    msg.push(0); // section kind 0: the body document
    msg.extend_from_slice(&doc);
    msg
}

/// Looks for a top-level `ok` element equal to 1 (double, int32 or int64, as servers differ).
fn reply_is_ok(body: &[u8]) -> bool {
    let find = |tag: u8| {
        let needle = [tag, b'o', b'k', 0];
        body.windows(4).position(|w| w == needle).map(|at| &body[at + 4..])
    };
    if let Some(rest) = find(0x01) {
        if let Some(bytes) = rest.get(..8) {
            let mut raw = [0_u8; 8];
            raw.copy_from_slice(bytes);
            return f64::from_le_bytes(raw) == 1.0;
        }
    }
    if let Some(rest) = find(0x10) {
        return rest.get(..4).is_some_and(|b| le_i32(b) == 1);
    }
    false
}

/// Whether a boolean element `name` is present and true.
fn bool_field(body: &[u8], name: &[u8]) -> bool {
    let mut needle = vec![0x08];
    needle.extend_from_slice(name);
    needle.push(0);
    body.windows(needle.len())
        .position(|w| w == needle.as_slice())
        .and_then(|at| body.get(at + needle.len()))
        .is_some_and(|&value| value == 1)
}

fn le_i32(bytes: &[u8]) -> i32 {
    let mut raw = [0_u8; 4];
    raw.copy_from_slice(&bytes[..4]);
    i32::from_le_bytes(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_message_is_well_formed() {
        let msg = hello_message(7);
        assert_eq!(le_i32(&msg[0..4]) as usize, msg.len());
        assert_eq!(le_i32(&msg[4..8]), 7);
        assert_eq!(le_i32(&msg[12..16]), OP_MSG);
        let doc = &msg[21..];
        assert_eq!(le_i32(&doc[0..4]) as usize, doc.len());
        assert_eq!(doc.last(), Some(&0));
    }

    #[test]
    fn ok_detection() {
        let mut double = vec![0x01, b'o', b'k', 0];
        double.extend_from_slice(&1.0_f64.to_le_bytes());
        assert!(reply_is_ok(&double));
        let mut zero = vec![0x01, b'o', b'k', 0];
        zero.extend_from_slice(&0.0_f64.to_le_bytes());
        assert!(!reply_is_ok(&zero));
        let mut int = vec![0x10, b'o', b'k', 0];
        int.extend_from_slice(&1_i32.to_le_bytes());
        assert!(reply_is_ok(&int));
        assert!(!reply_is_ok(b"nothing"));
    }

    #[test]
    fn writable_primary_detection() {
        let field = |value: u8| {
            let mut body = vec![0x08];
            body.extend_from_slice(b"isWritablePrimary\0");
            body.push(value);
            body
        };
        assert!(bool_field(&field(1), b"isWritablePrimary"));
        assert!(!bool_field(&field(0), b"isWritablePrimary"));
        assert!(!bool_field(b"\x08isWritable", b"isWritablePrimary"));
    }

    #[tokio::test]
    async fn resp_replies_of_every_kind() {
        let mut input: &[u8] = b"*4\r\n+OK\r\n:-3\r\n$-1\r\n*1\r\n$2\r\nab\r\n-ERR no\r\n";
        let reply = read_resp(&mut input).await.unwrap();
        let items = reply.items().unwrap();
        assert_eq!(items[0].text().unwrap(), "OK");
        assert_eq!(items[1].int().unwrap(), -3);
        assert_eq!(items[2], Resp::Text(None));
        assert_eq!(items[3].items().unwrap()[0].text().unwrap(), "ab");
        assert_eq!(read_resp(&mut input).await.unwrap(), Resp::Error("ERR no".into()));
    }

    #[tokio::test]
    async fn resp_lines_and_bulks() {
        let mut input: &[u8] = b"+PONG\r\n$3\r\ndir\r\n";
        assert_eq!(read_line(&mut input).await.unwrap(), "+PONG");
        assert_eq!(read_bulk(&mut input).await.unwrap(), "dir");
        assert!(read_line(&mut input).await.is_err());
    }
}
