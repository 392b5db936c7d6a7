"""Go's tests of package bufio (Go 1.19 `src/bufio/bufio_test.go` and `scan_test.go`), ported to gonb.bufio
with their assertions, then bufio on real conns (both poller backends). Go's `(value, err)` results map to
gonb's: the value is returned, and an error that came with data is raised by the next call (chapter 14b)."""
import pytest

import gonb
from goutil import no_idle_pipes, pair   # no_idle_pipes: an autouse fixture
from gonb import bufio, io, net, splice
from gonb.bufio import (ErrBufferFull, ErrFinalToken, ErrInvalidUnreadByte, ErrNegativeCount, ErrTooLong,
                        Reader, Scanner, Writer, scan_bytes, scan_lines, scan_runes, scan_words)
from gonb.io import EOF, ErrClosedPipe, ErrNoProgress, ErrShortWrite

minReadBufferSize = 16


class StringsReader:
    "strings.NewReader, as a gonb Reader (no WriteTo: the tests here want the plain path)."
    def __init__(self, s): self.b = bytearray(s.encode() if isinstance(s, str) else s)
    def read(self, p):
        if not self.b:
            if len(p) == 0: return 0
            raise EOF()
        n = min(len(p), len(self.b))
        p[:n] = self.b[:n]
        del self.b[:n]
        return n


class Buffer(StringsReader):
    "bytes.Buffer: write appends, read consumes."
    def __init__(self, s=b""): super().__init__(s)
    def write(self, p):
        self.b += p
        return len(p)


class slowReader:
    "scan_test.go slowReader: at most `max` bytes per read."
    def __init__(self, max, r): self.max, self.r = max, r
    def read(self, p): return self.r.read(memoryview(p)[:self.max])


class OneByteReader(slowReader):
    "iotest.OneByteReader."
    def __init__(self, r): super().__init__(1, r)


class HalfReader:
    "iotest.HalfReader: half of what is asked (rounded up)."
    def __init__(self, r): self.r = r
    def read(self, p): return self.r.read(memoryview(p)[:(len(p) + 1) // 2])


class ErrTimeout(OSError): pass


class TimeoutReader:
    "iotest.TimeoutReader: the second read fails with a timeout and no data; the others succeed."
    def __init__(self, r): self.r, self.count = r, 0
    def read(self, p):
        self.count += 1
        if self.count == 2: raise ErrTimeout("timeout")
        return self.r.read(p)


def reads(buf, m):
    "bufio_test.go reads: Read m bytes at a time until EOF."
    out = bytearray(1000)
    nb = 0
    while True:
        try: nb += buf.read(memoryview(out)[nb:nb + m])
        except EOF: break
        except ErrTimeout: pass
    return out[:nb].decode()


def readBytes(buf):
    "bufio_test.go readBytes: ReadByte until EOF, a timeout skipped."
    out = bytearray()
    while True:
        try: out.append(buf.read_byte())
        except EOF: break
        except ErrTimeout: pass
    return out.decode()


def readLines(b):
    "bufio_test.go readLines: ReadString('\\n') until EOF."
    s = ""
    while True:
        try: s += b.read_string("\n")
        except EOF: break
        except ErrTimeout: pass
    return s


READ_MAKERS = {"full": lambda r: r, "byte": OneByteReader, "half": HalfReader, "timeout": TimeoutReader}
BUF_READERS = {**{str(m): (lambda m: lambda b: reads(b, m))(m) for m in (1, 2, 3, 4, 5, 7)},
               "bytes": readBytes, "lines": readLines}
BUF_SIZES = [0, minReadBufferSize, 23, 32, 46, 64, 93, 128, 1024, 4096]


def test_reader_simple():
    "TestReaderSimple: a bufio.Reader of a strings.Reader reads it all back."
    data = "hello world"
    assert reads(Reader(StringsReader(data)), 1) == data
    assert readLines(Reader(StringsReader(data + "\n"))) == data + "\n"


@pytest.mark.parametrize("maker", READ_MAKERS)
def test_reader(maker):
    "TestReader: every text, through every source, read every way, with every buffer size."
    texts, s, everything = [], "", ""
    for i in range(30):
        texts.append(s + "\n")
        everything += texts[-1]
        s += chr(i % 26 + ord("a"))
    texts.append(everything)
    for text in texts:
        for name, fn in BUF_READERS.items():
            for size in BUF_SIZES:
                got = fn(Reader(READ_MAKERS[maker](StringsReader(text)), size))
                assert got == text, (maker, name, size)


def test_zero_reader():
    "TestZeroReader: a source that always reads 0 bytes ends a ReadByte with ErrNoProgress."
    class zeroReader:
        def read(self, p): return 0
    with pytest.raises(ErrNoProgress, match="multiple Read calls return no data or error"):
        Reader(zeroReader()).read_byte()


def test_read_rune():
    "TestReadRune: ReadRune decodes the UTF-8 test strings (utf8's table), with their sizes."
    for s in ["", "a", "abc", "\u263a\u263b\u2639", "\u00e9t\u00e9", "日本語", "\U0001f600 ok"]:
        r = Reader(StringsReader(s))
        out = []
        while True:
            try: rune, size = r.read_rune()
            except EOF: break
            assert size == len(chr(rune).encode())
            out.append(chr(rune))
        assert "".join(out) == s


def test_unread_rune():
    "TestUnreadRune: ReadRune, UnreadRune, ReadRune again gives the same rune; unread twice fails."
    r = Reader(StringsReader("aé日\U0001f600"))
    got = ""
    while True:
        try: r1, _ = r.read_rune()
        except EOF: break
        r.unread_rune()
        r2, _ = r.read_rune()
        assert r1 == r2
        got += chr(r1)
    assert got == "aé日\U0001f600"


@pytest.mark.parametrize("op", ["peek", "discard", "write_to"])
def test_no_unread_after(op):
    "TestNoUnreadRuneAfterPeek/Discard/WriteTo and TestNoUnreadByteAfter*: they forget the last byte and rune."
    r = Reader(StringsReader("example"))
    r.read_rune()
    {"peek": lambda: r.peek(1), "discard": lambda: r.discard(1), "write_to": lambda: r.write_to(Buffer())}[op]()
    with pytest.raises(bufio.ErrInvalidUnreadRune): r.unread_rune()
    r = Reader(StringsReader("example"))
    r.read_byte()
    {"peek": lambda: r.peek(1), "discard": lambda: r.discard(1), "write_to": lambda: r.write_to(Buffer())}[op]()
    with pytest.raises(ErrInvalidUnreadByte): r.unread_byte()


def test_unread_byte():
    "TestUnreadByte: every byte of two segments read, unread and read again."
    class StringReader:
        def __init__(self, segs): self.segs = list(segs)
        def read(self, p):
            if not self.segs: raise EOF()
            s = self.segs.pop(0).encode()
            p[:len(s)] = s
            return len(s)
    r = Reader(StringReader(["Hello, ", "world"]))
    got = ""
    while True:
        try: b1 = r.read_byte()
        except EOF: break
        got += chr(b1)
        r.unread_byte()
        assert r.read_byte() == b1
    assert got == "Hello, world"


def test_unread_byte_multiple():
    "TestUnreadByteMultiple: after reading n bytes, one unread works, the second fails."
    data = "abcdefghijklmnopqrstuvwxyz"
    for n in range(len(data) + 1):
        r = Reader(StringsReader(data))
        if n: assert io.read_full(r, bytearray(n)) == n
        if n == 0:
            with pytest.raises(ErrInvalidUnreadByte): r.unread_byte()
            continue
        r.unread_byte()
        with pytest.raises(ErrInvalidUnreadByte): r.unread_byte()
        assert r.read_byte() == ord(data[n - 1])


def test_unread_rune_at_eof():
    "TestUnreadRuneAtEOF: UnreadRune after a ReadRune at EOF fails; the last rune read stays readable."
    r = Reader(StringsReader("x"))
    r.read_rune()
    with pytest.raises(EOF): r.read_rune()
    with pytest.raises(bufio.ErrInvalidUnreadRune): r.unread_rune()


def test_read_write_rune():
    "TestReadWriteRune: WriteRune then ReadRune of the first 1000 runes, sizes as utf8.EncodeRune's."
    b = Buffer()
    w = Writer(b)
    for r in range(1000): assert w.write_rune(r) == len(chr(r).encode("utf-8", "replace"))
    w.flush()
    rd = Reader(b)
    for r in range(1000):
        rune, size = rd.read_rune()
        want = chr(r).encode("utf-8", "replace")
        assert (rune, size) == ((r, len(want)) if 0xD800 > r else (0xFFFD, 3))


def test_writer():
    "TestWriter: every write size with every buffer size: the right bytes come out after Flush."
    data = bytes(ord(" ") + i % (ord("~") - ord(" ")) for i in range(8192))
    for nwrite in BUF_SIZES:
        for bs in BUF_SIZES:
            w = Buffer()
            buf = Writer(w, bs)
            assert buf.write(data[:nwrite]) == nwrite
            buf.flush()
            assert bytes(w.b) == data[:nwrite], (nwrite, bs)


@pytest.mark.parametrize("n, m, err, expect", [(0, 1, None, ErrShortWrite), (1, 2, None, ErrShortWrite),
                                               (1, 1, None, None), (0, 1, ErrClosedPipe, ErrClosedPipe),
                                               (1, 2, ErrClosedPipe, ErrClosedPipe), (1, 1, ErrClosedPipe, ErrClosedPipe)])
def test_write_errors(n, m, err, expect):
    "TestWriteErrors: a writer that takes n of every m bytes, maybe failing: Flush's error, twice (sticky)."
    class errorWriterTest:
        def write(self, p):
            k = len(p) * n // m
            if err is not None: raise io.counted(err(), "written", k)
            return k
    buf = Writer(errorWriterTest())
    assert buf.write(b"hello world") == 11
    for _ in range(2):
        if expect is None: buf.flush()
        else:
            with pytest.raises(expect): buf.flush()


def test_write_string():
    "TestWriteString: many WriteStrings through a tiny buffer come out whole."
    b = Buffer()
    w = Writer(b, 8)
    for s in ["0", "123", "456", "7890", "abcdefghijklmnopqrstuvwxyz"]: w.write_string(s)
    w.flush()
    assert bytes(b.b) == b"01234567890abcdefghijklmnopqrstuvwxyz"


def test_buffer_full():
    "TestBufferFull: ReadSlice('!') through a 16-byte buffer: the first 16 bytes and ErrBufferFull, then 'world!'."
    buf = Reader(StringsReader("And now, hello, world! It is the time for all good men to come to the aid of their party"),
                 minReadBufferSize)
    line, err = buf.readSlice(ord("!"))
    assert (line, type(err)) == (b"And now, hello, ", ErrBufferFull)
    assert buf.readSlice(ord("!")) == (b"world!", None)


def test_peek():
    "TestPeek: Peek's results and errors, then issue 3022 (no reader error on a successful Peek)."
    p = bytearray(10)
    buf = Reader(StringsReader("abcdefghijklmnop"), minReadBufferSize)
    assert buf.peek(1) == b"a" and buf.peek(4) == b"abcd"
    with pytest.raises(ErrNegativeCount): buf.peek(-1)
    with pytest.raises(ErrBufferFull) as ei: buf.peek(32)
    assert ei.value.data == b"abcdefghijklmnop"
    buf.read(memoryview(p)[:3]); assert p[:3] == b"abc"
    assert buf.peek(1) == b"d" and buf.peek(2) == b"de"
    buf.read(memoryview(p)[:3]); assert p[:3] == b"def"
    assert buf.peek(4) == b"ghij"
    buf.read(p); assert p == b"ghijklmnop"
    assert buf.peek(0) == b""
    with pytest.raises(EOF): buf.peek(1)
    buf = Reader(StringsReader("abcd"), 32)      # dataAndEOFReader: the EOF comes with the data in Go
    assert buf.peek(2) == b"ab" and buf.peek(4) == b"abcd"
    assert buf.read(memoryview(p)[:5]) == 4 and p[:4] == b"abcd"
    with pytest.raises(EOF): buf.read(memoryview(p)[:1])


def test_peek_then_unread_rune():
    "TestPeekThenUnreadRune: ReadRune, Peek, UnreadRune, ReadRune used to crash Go; here each says what it can."
    r = Reader(StringsReader("x"))
    r.read_rune()
    with pytest.raises(EOF): r.peek(1)
    with pytest.raises(bufio.ErrInvalidUnreadRune): r.unread_rune()   # Peek forgot the rune
    with pytest.raises(EOF): r.read_rune()


TEST_OUTPUT = b"0123456789abcdefghijklmnopqrstuvwxy"
TEST_INPUT = b"012\n345\n678\n9ab\ncde\nfgh\nijk\nlmn\nopq\nrst\nuvw\nxy"
TEST_INPUT_RN = b"012\r\n345\r\n678\r\n9ab\r\ncde\r\nfgh\r\nijk\r\nlmn\r\nopq\r\nrst\r\nuvw\r\nxy\r\n\n\r\n"


@pytest.mark.parametrize("data", [TEST_INPUT, TEST_INPUT_RN], ids=["testInput", "testInputrn"])
def test_read_line(data):
    "TestReadLine (testReadLine, stride 1): lines without their endings add up to testOutput; no prefix."
    l = Reader(OneByteReader(StringsReader(data)), len(data) + 1)
    done = b""
    while True:
        try: line, is_prefix = l.read_line()
        except EOF: break
        assert not is_prefix
        done += line
    assert done == TEST_OUTPUT


def test_line_too_long():
    "TestLineTooLong: a 40-byte line through a 16-byte buffer: two prefixes, the rest, then EOF."
    data = bytes(ord("0") + i % 10 for i in range(minReadBufferSize * 5 // 2))
    l = Reader(Buffer(data), minReadBufferSize)
    assert l.read_line() == (data[:16], True)
    assert l.read_line() == (data[16:32], True)
    assert l.read_line() == (data[32:40], False)
    with pytest.raises(EOF): l.read_line()


@pytest.mark.parametrize("data, expect", [
    ("012345678901234\r\n012345678901234\r\n",
     [(b"012345678901234", True), (b"", False), (b"012345678901234", True), (b"", False), EOF]),
    ("0123456789012345\r012345678901234\r",
     [(b"0123456789012345", True), (b"\r012345678901234", True), (b"\r", False), EOF])])
def test_read_line_newlines(data, expect):
    "TestReadLineNewlines: a \\r at the buffer's end is kept for the next call, where it may start \\r\\n."
    b = Reader(StringsReader(data), minReadBufferSize)
    for e in expect:
        if e is EOF:
            with pytest.raises(EOF): b.read_line()
        else: assert b.read_line() == e


def test_reader_write_to():
    "TestReaderWriteTo: WriteTo sends everything, through a source read in small pieces."
    data = bytes(i % 256 for i in range(8192))
    r = Reader(HalfReader(StringsReader(data)))
    w = Buffer()
    assert r.write_to(w) == len(data) and bytes(w.b) == data


def test_writer_read_from():
    "TestWriterReadFrom: ReadFrom fills and flushes the buffer until EOF; the bytes arrive whole."
    data = bytes(i % 256 for i in range(8192))
    for bs in (16, 100, 4096):
        w = Buffer()
        b = Writer(w, bs)
        assert b.read_from(HalfReader(StringsReader(data))) == len(data)
        b.flush()
        assert bytes(w.b) == data


def test_writer_read_from_err_no_progress():
    "TestWriterReadFromErrNoProgress: a source that reads 0 bytes forever is ErrNoProgress."
    class emptyThenNonEmptyReader:
        def read(self, p): return 0
    with pytest.raises(ErrNoProgress): Writer(Buffer()).read_from(emptyThenNonEmptyReader())


def test_read_zero():
    "TestReadZero: a source that reads 0 bytes and then data: Read returns 0 (no error) and then the data."
    class zeroThenData:
        def __init__(self): self.calls = 0
        def read(self, p):
            self.calls += 1
            if self.calls == 1: return 0
            if self.calls == 2:
                p[:4] = b"data"
                return 4
            raise EOF()
    r = Reader(zeroThenData())
    buf = bytearray(8)
    assert r.read(buf) == 0
    assert r.read(buf) == 4 and buf[:4] == b"data"
    with pytest.raises(EOF): r.read(buf)


def test_reader_reset():
    "TestReaderReset: Reset drops the buffered bytes and reads the new source."
    r = Reader(StringsReader("foo foo"))
    assert r.peek(3) == b"foo"
    r.reset(StringsReader("bar bar"))
    assert io.read_all(r) == b"bar bar"


def test_writer_reset():
    "TestWriterReset: Reset drops unflushed bytes and writes to the new destination."
    b1, b2 = Buffer(), Buffer()
    w = Writer(b1)
    w.write_string("foo")
    w.reset(b2)
    w.write_string("bar")
    w.flush()
    assert bytes(b1.b) == b"" and bytes(b2.b) == b"bar"


class scriptedReader:
    "bufio_test.go newScriptedReader: each read runs the next step; running out is a test failure."
    def __init__(self, *steps): self.steps = list(steps)
    def read(self, p):
        assert self.steps, "unexpected read"
        return self.steps.pop(0)(p)


def five_then_error():
    "Go's step returns 5 bytes and an error together; gonb's returns them, and raises on the next read."
    def five(p):
        assert len(p) >= 5, "unexpected small read"
        p[:5] = b"abcde"
        return 5
    def err(p): raise OSError("5-then-error")
    return scriptedReader(five, err)


@pytest.mark.parametrize("name, r, size, peek, n, want, err, buffered", [
    ("normal case", lambda: StringsReader("abcdefghijklmnopqrstuvwxyz"), 0, 16, 6, 6, None, 10),
    ("discard causing read", lambda: StringsReader("abcdefghijklmnopqrstuvwxyz"), 0, 0, 6, 6, None, 10),
    ("discard all without peek", lambda: StringsReader("abcdefghijklmnopqrstuvwxyz"), 0, 0, 26, 26, None, 0),
    ("discard more than end", lambda: StringsReader("abcdefghijklmnopqrstuvwxyz"), 0, 0, 27, 26, "EOF", 0),
    ("fill error, discard less", five_then_error, 0, 0, 4, 4, None, 1),
    ("fill error, discard equal", five_then_error, 0, 0, 5, 5, None, 0),
    ("fill error, discard more", five_then_error, 0, 0, 6, 5, "5-then-error", 0),
    ("discard zero", scriptedReader, 0, 0, 0, 0, None, 0),
    ("discard negative", scriptedReader, 0, 0, -1, 0, "bufio: negative count", 0)])
def test_reader_discard(name, r, size, peek, n, want, err, buffered):
    "TestReaderDiscard: Discard's count, its error (after the valid bytes), and what stays buffered."
    br = Reader(r(), size)
    if peek: assert len(br.peek(peek)) == peek
    if err is None: assert br.discard(n) == want
    else:
        with pytest.raises(Exception) as ei: br.discard(n)
        assert str(ei.value) == err and getattr(ei.value, "n", 0) == want
    assert br.buffered() == buffered


def test_reader_size():
    "TestReaderSize: the buffer's size, with Go's minimum of 16."
    assert Reader(StringsReader("x")).size() == 4096
    assert Reader(StringsReader("x"), 1234).size() == 1234
    assert Reader(StringsReader("x"), -7).size() == minReadBufferSize


def test_writer_size():
    "TestWriterSize: the buffer's size; a size <= 0 is the default."
    assert Writer(Buffer()).size() == 4096 and Writer(Buffer(), 1234).size() == 1234
    assert Writer(Buffer(), -1).size() == 4096


def test_partial_read_eof():
    "TestPartialReadEOF: bytes buffered before EOF are read, then EOF."
    src = StringsReader("abcdefghijklmnopqrstuvwxyz")
    r = Reader(src, 16)
    assert r.peek(5) == b"abcde"
    buf = bytearray(16)
    assert r.read(buf) == 16
    assert r.read(buf) == 10
    with pytest.raises(EOF): r.read(buf)


# ---- scan_test.go ---------------------------------------------------------------------------------

def test_scan_byte():
    "TestScanByte: ScanBytes returns each byte."
    for s in ["", "a", "¼", "☹", "\x81", "abc", "€\x80x"]:
        sc = Scanner(StringsReader(s))
        sc.split(scan_bytes)
        got = b"".join(sc.bytes() for _ in iter(sc.scan, False))
        assert got == s.encode() and sc.err() is None


def test_scan_rune():
    "TestScanRune: ScanRunes returns each rune; an invalid byte is U+FFFD."
    for raw, want in [(b"abc", "abc"), ("日本語".encode(), "日本語"), (b"\x80x\xe2\x82", "\ufffdx\ufffd\ufffd")]:
        sc = Scanner(StringsReader(raw))
        sc.split(scan_runes)
        assert "".join(sc.text() for _ in iter(sc.scan, False)) == want and sc.err() is None


def test_scan_words():
    "TestScanWords: words between Unicode spaces, the spaces dropped."
    for text in ["", " ", "\n", "a", " a ", "abc def", " abc def ", " abc\tdef\nghi\rjkl\fmno\vpqr\u0085stu\u00a0\n",
                 "\u2000\u2001\u2002abc\u2003\u2004\u2005def\u2006\u2007\u2008"]:
        sc = Scanner(StringsReader(text))
        sc.split(scan_words)
        got = [sc.text() for _ in iter(sc.scan, False)]
        assert got == text.split() and sc.err() is None


def genLine(lineNum, n, addNewline):
    "scan_test.go genLine: a line of n-1 letters (one fewer with \\r), ending in \\n or \\r\\n."
    doCR = lineNum % 5 == 0
    if doCR: n -= 1
    out = bytearray()
    for i in range(n - 1):
        c = (ord("a") + lineNum + i) % 256
        out.append(ord("N") if c in (ord("\n"), ord("\r")) else c)
    if addNewline: out += b"\r\n" if doCR else b"\n"
    return bytes(out)


smallMaxTokenSize = 256


def test_scan_long_lines():
    "TestScanLongLines: lines of every length up to the token limit, read 1 byte at a time."
    buf, j = bytearray(), 0
    for lineNum in range(2 * smallMaxTokenSize):
        buf += genLine(lineNum, j, True)
        j = j + 1 if j < smallMaxTokenSize else j - 1
    s = Scanner(slowReader(1, StringsReader(buf)))
    s.split(scan_lines)
    s.buffer(bytearray(), smallMaxTokenSize)
    j, lineNum = 0, 0
    while s.scan():
        assert s.bytes() == genLine(lineNum, j, False), lineNum
        j = j + 1 if j < smallMaxTokenSize else j - 1
        lineNum += 1
    assert s.err() is None and lineNum == 2 * smallMaxTokenSize


def test_scan_line_too_long():
    "TestScanLineTooLong: lines keep growing past the limit: the scan stops with ErrTooLong."
    buf, j = bytearray(), 0
    for lineNum in range(2 * smallMaxTokenSize):
        buf += genLine(lineNum, j, True)
        j += 1
    s = Scanner(slowReader(3, StringsReader(buf)))
    s.split(scan_lines)
    s.buffer(bytearray(), smallMaxTokenSize)
    j, lineNum = 0, 0
    while s.scan():
        assert s.bytes() == genLine(lineNum, j, False)
        j = j + 1 if j < smallMaxTokenSize else j - 1
        lineNum += 1
    assert isinstance(s.err(), ErrTooLong) and str(s.err()) == "bufio.Scanner: token too long"


@pytest.mark.parametrize("text, lines", [
    ("abcdefghijklmn\nopqrstuvwxyz", ["abcdefghijklmn", "opqrstuvwxyz"]),   # TestScanLineNoNewline
    ("abcdefghijklmn\nopqrstuvwxyz\r", ["abcdefghijklmn", "opqrstuvwxyz"]),  # TestScanLineReturnButNoNewline
    ("abcdefghijklmn\nopqrstuvwxyz\n\n", ["abcdefghijklmn", "opqrstuvwxyz", ""]),  # ...EmptyFinalLine
    ("abcdefghijklmn\nopqrstuvwxyz\n\r", ["abcdefghijklmn", "opqrstuvwxyz", ""])])  # ...EmptyFinalLineWithCR
def test_no_newline(text, lines):
    "testNoNewline (TestScanLineNoNewline, ReturnButNoNewline, EmptyFinalLine, EmptyFinalLineWithCR)."
    s = Scanner(slowReader(7, StringsReader(text)))
    s.split(scan_lines)
    assert [s.text() for _ in iter(s.scan, False)] == lines and s.err() is None


def test_split_error():
    "TestSplitError: a split function that fails after 7 tokens stops the scan with its error."
    testError = OSError("testError")
    numSplits = 0
    def errorSplit(data, atEOF):
        nonlocal numSplits
        assert not atEOF, "didn't get enough data"
        if numSplits >= 7: return 0, None, testError
        numSplits += 1
        return 1, data[:1], None
    text = "abcdefghijklmnopqrstuvwxyz"
    s = Scanner(slowReader(1, StringsReader(text)))
    s.split(errorSplit)
    i = 0
    while s.scan():
        assert s.bytes() == text[i].encode()
        i += 1
    assert i == 7 and s.err() is testError


def test_err_at_eof():
    "TestErrAtEOF: a split error after EOF replaces EOF."
    testError = OSError("testError")
    s = Scanner(StringsReader("1 2 33"))
    def split(data, atEOF):
        advance, token, err = scan_words(data, atEOF)
        if token is not None and len(token) > 1:
            assert isinstance(s.error, EOF), "not testing EOF"
            raise testError
        return advance, token, err
    s.split(split)
    while s.scan(): pass
    assert s.err() is testError


def test_non_eof_with_empty_read():
    "TestNonEOFWithEmptyRead (issue 5268): a reader that fails at once: Scan is false, Err its error."
    class alwaysError:
        def read(self, p): raise io.ErrUnexpectedEOF()
    s = Scanner(alwaysError())
    s.split(scan_lines)
    assert not s.scan() and isinstance(s.err(), io.ErrUnexpectedEOF)


def test_bad_reader():
    "TestBadReader: a reader that claims more bytes than it was given is ErrBadReadCount."
    class negativeEOFReader:
        def read(self, p): return len(p) + 1
    s = Scanner(negativeEOFReader())
    assert not s.scan() and str(s.err()) == "bufio.Scanner: Read returned impossible count"


def test_scan_words_excessive_white_space():
    "TestScanWordsExcessiveWhiteSpace: a word after more spaces than MaxScanTokenSize is found."
    word = "ipsum"
    s = Scanner(StringsReader(" " * bufio.MaxScanTokenSize + word))
    s.split(scan_words)
    assert s.scan() and s.text() == word and s.err() is None


def commaSplit(data, atEOF):
    "scan_test.go commaSplit: tokens end at ','; the rest is the final token."
    i = data.find(b",")
    if i >= 0: return i + 1, data[:i], None
    return 0, data, ErrFinalToken()


@pytest.mark.parametrize("text, values", [("1,2,3,", ["1", "2", "3", ""]), ("1,2,3", ["1", "2", "3"])],
                         ids=["TestEmptyTokens", "TestWithNoEmptyTokens"])
def test_empty_tokens(text, values):
    "TestEmptyTokens, TestWithNoEmptyTokens: ErrFinalToken delivers the last token (maybe empty), no error."
    s = Scanner(StringsReader(text))
    s.split(commaSplit)
    assert [s.text() for _ in iter(s.scan, False)] == values and s.err() is None


def test_dont_loop_forever():
    "TestDontLoopForever: empty tokens forever at EOF is Go's panic 'too many empty tokens'."
    def loopAtEOFSplit(data, atEOF):
        if data: return 1, data[:1], None
        return 0, data, None
    s = Scanner(StringsReader("abc"))
    s.split(loopAtEOFSplit)
    with pytest.raises(RuntimeError, match="empty tokens"):
        for count in range(1002): s.scan()


def test_blank_lines():
    "TestBlankLines: 1000 newlines are 1000 empty lines, no loop, no error."
    s = Scanner(StringsReader("\n" * 1000))
    assert sum(1 for _ in iter(s.scan, False)) == 1000 and s.err() is None


def test_empty_lines_ok():
    "TestEmptyLinesOK: many empty-but-advancing tokens do not trip the loop check."
    c = 10000
    def split(data, atEOF):
        nonlocal c
        if c > 0:
            c -= 1
            return 1, data[:1], None
        return 0, None, None
    s = Scanner(StringsReader("\n" * 10000))
    s.split(split)
    while s.scan(): pass
    assert s.err() is None and c == 0


def test_huge_buffer():
    "TestHugeBuffer: a token larger than MaxScanTokenSize is read when buffer() allows it."
    text = "a" * (bufio.MaxScanTokenSize * 3 // 2)
    s = Scanner(StringsReader(text))
    s.buffer(bytearray(100), 3 * bufio.MaxScanTokenSize)
    assert s.scan() and s.text() == text and s.err() is None


def test_buffer_and_split_after_scan():
    "Scanner.Buffer and Split panic once Scan has started (scan.go)."
    s = Scanner(StringsReader("x"))
    s.scan()
    with pytest.raises(RuntimeError, match="Buffer called after Scan"): s.buffer(bytearray(), 10)
    with pytest.raises(RuntimeError, match="Split called after Scan"): s.split(scan_words)


# ---- on conns: bad input leaves the conn usable ----------------------------------------------------



def test_bad_input_on_a_conn(gorun):
    "Negative counts, a peek beyond the buffer, a bad delimiter: Go's words, nothing consumed, the conn still reads."
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        c, peer = pair(ln)
        peer.write(b"0123456789abcdefXYZ\nrest")
        r = Reader(c, 16)
        with pytest.raises(ErrNegativeCount, match="bufio: negative count"): r.peek(-1)
        with pytest.raises(ErrNegativeCount, match="bufio: negative count"): r.discard(-5)
        with pytest.raises(ErrBufferFull, match="bufio: buffer full") as ei: r.peek(17)
        assert ei.value.data == b"0123456789abcdef"
        with pytest.raises(ValueError, match="delimiter must be one byte"): r.read_string("ab")
        assert r.read_line() == (b"0123456789abcdef", True)
        assert r.read_line() == (b"XYZ", False)
        assert r.peek(4) == b"rest"
        for x in (c, peer, ln): x.close()
    gorun(main)


def test_write_after_close_is_sticky(gorun):
    "A bufio.Writer on a conn closed under it: flush raises net.ErrClosed, again on every call; the peer is fine."
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        c, peer = pair(ln)
        w = Writer(c)
        w.write_string("hello\n")
        w.flush()
        w.write_string("lost")
        c.close()
        for _ in range(2):
            with pytest.raises(net.ErrClosed, match="use of closed network connection"): w.flush()
        with pytest.raises(net.ErrClosed) as ei: w.write(b"x" * 5000)
        assert ei.value.written == 0 and w.buffered() == 4
        assert Reader(peer).read_string("\n") == "hello\n"
        peer.close(); ln.close()
    gorun(main)


def test_scanner_over_conn_long_lines(gorun):
    "A Scanner over a conn: lines arriving in pieces, a line longer than the limit ends with ErrTooLong."
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        c, peer = pair(ln)
        sent = gonb.Chan()
        def send():
            try:
                for part in (b"one\ntw", b"o\n", b"x" * 300 + b"\n", b"never\n"):
                    peer.write(part)
                    gonb.sleep(0.002)
            finally: peer.close(); sent.close()
        gonb.go(send)
        s = Scanner(c)
        s.buffer(bytearray(16), 256)
        got = [s.text() for _ in iter(s.scan, False)]
        assert got == ["one", "two"] and isinstance(s.err(), ErrTooLong)
        sent.recv()          # the sender closes its end before the run ends: no goroutine left holding an fd
        c.close(); ln.close()
    gorun(main)


def test_peeked_header_then_splice(gorun):
    "Peek a header through a bufio.Reader, then copy the rest to another conn: buffered bytes by write, the rest by splice."
    def main():
        ln = net.listen("tcp", "127.0.0.1:0")
        src, src_peer = pair(ln)
        dst, dst_peer = pair(ln)
        body = bytes(range(256)) * 400
        src_peer.write(b"HDR1" + body)
        src_peer.close()
        r = Reader(src)
        assert r.peek(4) == b"HDR1" and r.discard(4) == 4
        got = []
        gonb.go(lambda: got.append(io.read_all(dst_peer)))
        assert io.copy(dst, r) == len(body)
        dst.close()
        while not got: gonb.sleep(0.001)
        assert got[0] == body
        for x in (src, dst_peer, ln): x.close()
    gorun(main)
