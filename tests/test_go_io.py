"""Go's own tests of package io (Go 1.19 `src/io/io_test.go`, `pipe_test.go`, `multi_test.go`), ported to
gonb.io with their assertions. Go returns `(n, err)`; gonb returns n or raises, with the count on the
exception (`err.written` for copies and writes, `err.n` for reads): each assertion on a pair checks both."""
import pytest

import gonb
from gonb import io
from gonb.io import EOF, ErrClosedPipe, ErrShortBuffer, ErrShortWrite, ErrUnexpectedEOF


class Buffer:
    """Go's bytes.Buffer, as io_test.go's `Buffer` uses it: without ReadFrom and WriteTo (the subclasses
    below add them back)."""
    def __init__(self, data=b""): self.data = bytearray(data)
    def write(self, p):
        self.data += p
        return len(p)
    def write_string(self, s): return self.write(s.encode())
    def read(self, p):
        if not self.data:
            if len(p) == 0: return 0
            raise EOF()
        n = min(len(p), len(self.data))
        p[:n] = self.data[:n]
        del self.data[:n]
        return n
    def string(self): return self.data.decode()


class BytesBuffer(Buffer):
    "bytes.Buffer with its ReadFrom and WriteTo."
    def read_from(self, r):
        self.read_from_called = True
        return io.copy_buffer(Buffer.__new__(_Plain).adopt(self), r, None)
    def write_to(self, w):
        self.write_to_called = True
        n = w.write(bytes(self.data)) if self.data else 0
        del self.data[:n]
        return n


class _Plain(Buffer):
    "A view of a BytesBuffer as a plain Writer (what bytes.Buffer.ReadFrom does inside)."
    def adopt(self, b):
        self.write = b.write
        return self


class StringsReader(Buffer):
    "strings.NewReader: a Reader with WriteTo."
    def write_to(self, w):
        n = w.write(bytes(self.data)) if self.data else 0
        del self.data[:n]
        return n


def test_copy():
    "TestCopy: Copy between two Buffers with neither ReadFrom nor WriteTo."
    rb, wb = Buffer(b"hello, world."), Buffer()
    io.copy(wb, rb)
    assert wb.string() == "hello, world."


def test_copy_negative():
    "TestCopyNegative: a LimitedReader with N < 0, and CopyN with n < 0, copy nothing (and CopyN says no error)."
    rb, wb = Buffer(b"hello"), Buffer()
    io.copy(wb, io.LimitedReader(rb, -1))
    assert wb.string() == ""
    assert io.copy_n(wb, rb, -1) == 0
    assert wb.string() == ""


def test_copy_buffer():
    "TestCopyBuffer: a one-byte buffer keeps it honest."
    rb, wb = Buffer(b"hello, world."), Buffer()
    io.copy_buffer(wb, rb, bytearray(1))
    assert wb.string() == "hello, world."


def test_copy_buffer_nil():
    "TestCopyBufferNil: a nil buffer makes CopyBuffer allocate one."
    rb, wb = Buffer(b"hello, world."), Buffer()
    io.copy_buffer(wb, rb, None)
    assert wb.string() == "hello, world."


def test_copy_read_from():
    "TestCopyReadFrom: the destination's ReadFrom is used."
    rb, wb = Buffer(b"hello, world."), BytesBuffer()
    io.copy(wb, rb)
    assert wb.string() == "hello, world." and wb.read_from_called


def test_copy_write_to():
    "TestCopyWriteTo: the source's WriteTo is used."
    rb, wb = BytesBuffer(b"hello, world."), Buffer()
    io.copy(wb, rb)
    assert wb.string() == "hello, world." and rb.write_to_called


def test_copy_priority():
    "TestCopyPriority: WriterTo is preferred over ReaderFrom when both are there."
    rb, wb = BytesBuffer(b"hello, world."), BytesBuffer()
    io.copy(wb, rb)
    assert wb.string() == "hello, world."
    assert getattr(rb, "write_to_called", False) and not getattr(wb, "read_from_called", False)


def test_copy_read_err_write_err():
    """TestCopyReadErrWriteErr: a read that returns a byte *and* an error, then a write that fails: the
    write's error wins, 0 written. A gonb Reader cannot return and raise at once: it returns the byte,
    and would raise on the next call, which never comes."""
    class zeroErrReader:
        def read(self, p):
            p[0] = 0
            return 1
    ew = OSError("writeError")
    class errWriter:
        def write(self, p): raise ew
    with pytest.raises(OSError) as ei: io.copy(errWriter(), zeroErrReader())
    assert ei.value is ew and ei.value.written == 0


def test_copy_n():
    "TestCopyN."
    rb, wb = Buffer(b"hello, world."), Buffer()
    io.copy_n(wb, rb, 5)
    assert wb.string() == "hello"


def test_copy_n_read_from():
    "TestCopyNReadFrom."
    rb, wb = Buffer(b"hello"), BytesBuffer()
    io.copy_n(wb, rb, 5)
    assert wb.string() == "hello"


def test_copy_n_write_to():
    "TestCopyNWriteTo: CopyN hides the source's WriteTo behind a LimitedReader."
    rb, wb = BytesBuffer(b"hello, world."), Buffer()
    io.copy_n(wb, rb, 5)
    assert wb.string() == "hello"


def test_copy_n_eof():
    "TestCopyNEOF: EOF behaves the same whether the destination has ReadFrom or not."
    b = BytesBuffer()
    class noReadFrom:
        def __init__(self, w): self.w = w
        def write(self, p): return self.w.write(p)
    assert io.copy_n(noReadFrom(b), StringsReader(b"foo"), 3) == 3
    with pytest.raises(EOF) as ei: io.copy_n(noReadFrom(b), StringsReader(b"foo"), 4)
    assert ei.value.written == 3
    assert io.copy_n(b, StringsReader(b"foo"), 3) == 3
    with pytest.raises(EOF) as ei: io.copy_n(b, StringsReader(b"foo"), 4)
    assert ei.value.written == 3
    class wantedAndErrReader:   # Go's returns len(p) and an error; the error is never seen by CopyN
        def read(self, p): return len(p)
    assert io.copy_n(b, wantedAndErrReader(), 5) == 5
    assert io.copy_n(noReadFrom(b), wantedAndErrReader(), 5) == 5


class dataAndErrorBuffer(Buffer):
    "io_test.go's dataAndErrorBuffer: the read that empties the buffer fails with `err` (gonb: on the next call)."
    def __init__(self, err): super().__init__(); self.err, self.pending = err, False
    def read(self, p):
        if self.pending and not self.data:
            self.pending = False
            raise self.err
        n = Buffer.read(self, p)
        if n > 0 and not self.data: self.pending = True
        return n


def read_at_least_cases(rb, err=None):
    "io_test.go testReadAtLeast."
    rb.write(b"0123")
    buf = bytearray(2)
    assert io.read_at_least(rb, buf, 2) == 2
    with pytest.raises(ErrShortBuffer) as ei: io.read_at_least(rb, buf, 4)
    assert ei.value.n == 0
    assert io.read_at_least(rb, buf, 1) == 2
    # Go: EOF. Go's ReadAtLeast drops an error that came with the bytes that reached `min`; a gonb Reader
    # raises it on the next call instead, so here a non-EOF error of dataAndErrorBuffer shows up (n = 0).
    late = EOF if err is None or isinstance(err, EOF) else type(err)
    with pytest.raises(late) as ei: io.read_at_least(rb, buf, 2)
    assert getattr(ei.value, "n", 0) == 0
    rb.write(b"4")
    want = ErrUnexpectedEOF if err is None or isinstance(err, EOF) else type(err)
    with pytest.raises(want) as ei: io.read_at_least(rb, buf, 2)
    assert ei.value.n == 1


def test_read_at_least():
    "TestReadAtLeast."
    read_at_least_cases(Buffer())


def test_read_at_least_with_data_and_eof():
    "TestReadAtLeastWithDataAndEOF."
    read_at_least_cases(dataAndErrorBuffer(EOF()), EOF())


def test_read_at_least_with_data_and_error():
    "TestReadAtLeastWithDataAndError."
    e = OSError("fake error")
    read_at_least_cases(dataAndErrorBuffer(e), e)


def test_read_full():
    "ReadFull's contract (io.go's doc; Go's TestReadFull is in bufio and net): exact, EOF, unexpected EOF."
    buf = bytearray(5)
    assert io.read_full(Buffer(b"hello, world"), buf) == 5 and buf == b"hello"
    with pytest.raises(EOF): io.read_full(Buffer(), buf)
    with pytest.raises(ErrUnexpectedEOF) as ei: io.read_full(Buffer(b"hel"), buf)
    assert ei.value.n == 3 and str(ei.value) == "unexpected EOF"


def test_read_all():
    "ReadAll (io_test.go has none; Go 1.16's TestReadAll in ioutil): everything, across growths."
    data = bytes(range(256)) * 40
    assert io.read_all(Buffer(data)) == data and io.read_all(Buffer()) == b""


def test_multi_writer():
    "TestMultiWriter, TestMultiWriter_String: every writer gets every byte; WriteString passes through."
    a, b = Buffer(), Buffer()
    mw = io.multi_writer(a, b)
    assert io.write_string(mw, "Hello, multiWriter") == 18
    assert a.string() == b.string() == "Hello, multiWriter"


def test_multi_writer_single_chain_flatten():
    "TestMultiWriterSingleChainFlatten: a chain of MultiWriters flattens to one level."
    w = io.multi_writer(Buffer())
    for _ in range(100): w = io.multi_writer(w)
    assert len(w.writers) == 1


def test_multi_writer_error():
    "TestMultiWriterError: the first failing writer stops the write; later writers never see it."
    f1_called = []
    class f1:
        def write(self, p): f1_called.append(1); return len(p)
    class f2:
        def write(self, p): raise OSError("sdfsdf")
    class f3:
        def write(self, p): raise AssertionError("MultiWriter called f3.Write")
    with pytest.raises(OSError, match="sdfsdf"): io.multi_writer(f1(), f2(), f3()).write(b"x")
    assert f1_called


def test_multi_writer_short():
    "A writer that takes fewer bytes than given with no error is ErrShortWrite (multi.go)."
    class half:
        def write(self, p): return len(p) // 2
    with pytest.raises(ErrShortWrite, match="short write"): io.multi_writer(half()).write(b"abcd")


def test_multi_reader():
    "TestMultiReader: reads move across the readers, then EOF."
    mr = io.multi_reader(Buffer(b"foo "), Buffer(), Buffer(b"bar"))
    buf, got = bytearray(2), []
    while True:
        try: n = mr.read(buf)
        except EOF: break
        got.append(bytes(buf[:n]))
    assert got == [b"fo", b"o ", b"ba", b"r"]


def test_multi_reader_copy():
    "TestMultiReaderCopy: Copy from a MultiReader."
    wb = Buffer()
    io.copy(wb, io.multi_reader(Buffer(b"hello world"), Buffer(b"!")))
    assert wb.string() == "hello world!"


def test_multi_reader_flatten():
    "TestMultiReaderFlatten: a chain of MultiReaders is read without going one call deeper per link."
    r = io.multi_reader()
    for _ in range(1000): r = io.multi_reader(r)
    with pytest.raises(EOF): r.read(bytearray(1))


def test_multi_reader_final_eof():
    "TestMultiReaderFinalEOF: after the last byte, EOF."
    r = io.multi_reader(Buffer(b"x"))
    buf = bytearray(1)
    assert r.read(buf) == 1
    with pytest.raises(EOF): r.read(buf)


# ---- pipe_test.go: every test runs its goroutines under gonb.run ----------------------------------

def test_pipe1():
    "TestPipe1: a single read/write pair."
    def main():
        c = gonb.Chan()
        r, w = io.pipe()
        def check_write():
            assert w.write(b"hello, world") == 12
            c.send(0)
        gonb.go(check_write)
        buf = bytearray(64)
        n = r.read(buf)
        assert n == 12 and buf[:12] == b"hello, world"
        c.recv()
        r.close(); w.close()
    gonb.run(main)


def test_pipe2():
    "TestPipe2: a sequence of read/write pairs, then EOF (the reader reports 0)."
    def main():
        c = gonb.Chan()
        r, w = io.pipe()
        def reader():
            buf = bytearray(64)
            while True:
                try: n = r.read(buf)
                except EOF:
                    c.send(0)
                    return
                c.send(n)
        gonb.go(reader)
        buf = bytearray(64)
        for i in range(5):
            p = memoryview(buf)[:5 + i * 10]
            assert w.write(p) == len(p)
            assert c.recv() == len(p)
        w.close()
        assert c.recv() == 0
    gonb.run(main)


def test_pipe3():
    "TestPipe3: a large write that needs several reads; only the last two are short (1 byte, then EOF)."
    def main():
        c = gonb.Chan()
        r, w = io.pipe()
        wdat = bytes(range(128))
        def writer():
            n = w.write(wdat)
            w.close()
            c.send(n)
        gonb.go(writer)
        rdat = bytearray(1024)
        tot, n = 0, 1
        while n <= 256:
            expect = 1 if n == 128 else 0 if n == 256 else n
            try: nn = r.read(memoryview(rdat)[tot:tot + n])
            except EOF:
                assert n == 256
                nn = 0
            assert nn == expect, (n, expect, nn)
            tot += nn
            n *= 2
        assert c.recv() == 128 and tot == 128 and rdat[:128] == wdat
    gonb.run(main)


PIPE_TESTS = [(True, None, False), (True, None, True), (True, ErrShortWrite, True),
              (False, None, False), (False, None, True), (False, ErrShortWrite, True)]


def delay_close(cl, ch, err, close_with_error):
    "pipe_test.go delayClose."
    gonb.sleep(0.001)
    if close_with_error: cl.close_with_error(err)
    else: cl.close()
    ch.send(0)


@pytest.mark.parametrize("async_, errcls, close_with_error", PIPE_TESTS)
def test_pipe_read_close(async_, errcls, close_with_error):
    "TestPipeReadClose: a read after (or during) the writer's close gets its error, or EOF; 0 bytes."
    def main():
        c = gonb.Chan(1)
        r, w = io.pipe()
        err = errcls() if errcls else None
        if async_: gonb.go(delay_close, w, c, err, close_with_error)
        else: delay_close(w, c, err, close_with_error)
        with pytest.raises(Exception) as ei: r.read(bytearray(64))
        c.recv()
        if err is None: assert isinstance(ei.value, EOF)
        else: assert ei.value is err
        r.close()
    gonb.run(main)


def test_pipe_read_close2():
    "TestPipeReadClose2: closing the read side during a read: 0, ErrClosedPipe."
    def main():
        c = gonb.Chan(1)
        r, _ = io.pipe()
        gonb.go(delay_close, r, c, None, False)
        with pytest.raises(ErrClosedPipe): r.read(bytearray(64))
        c.recv()
    gonb.run(main)


@pytest.mark.parametrize("async_, errcls, close_with_error", PIPE_TESTS)
def test_pipe_write_close(async_, errcls, close_with_error):
    "TestPipeWriteClose: a write after (or during) the reader's close gets its error or ErrClosedPipe, 0 written."
    def main():
        c = gonb.Chan(1)
        r, w = io.pipe()
        err = errcls() if errcls else None
        if async_: gonb.go(delay_close, r, c, err, close_with_error)
        else: delay_close(r, c, err, close_with_error)
        with pytest.raises(Exception) as ei: io.write_string(w, "hello, world")
        c.recv()
        if err is None: assert isinstance(ei.value, ErrClosedPipe)
        else: assert ei.value is err
        assert ei.value.written == 0
        w.close()
    gonb.run(main)


def test_pipe_write_close2():
    "TestPipeWriteClose2: closing the write side during a write: 0, ErrClosedPipe."
    def main():
        c = gonb.Chan(1)
        _, w = io.pipe()
        gonb.go(delay_close, w, c, None, False)
        with pytest.raises(ErrClosedPipe) as ei: w.write(bytes(64))
        assert ei.value.written == 0
        c.recv()
    gonb.run(main)


@pytest.mark.parametrize("empty", [b"", bytearray()], ids=["TestWriteEmpty", "TestWriteNil"])
def test_write_empty(empty):
    "TestWriteEmpty, TestWriteNil: an empty write is taken by a read (of 0), then EOF ends ReadFull."
    def main():
        r, w = io.pipe()
        def writer():
            w.write(empty)
            w.close()
        gonb.go(writer)
        with pytest.raises(EOF): io.read_full(r, bytearray(2))
        r.close()
    gonb.run(main)


def test_write_after_writer_close():
    "TestWriteAfterWriterClose: ReadFull gets 'hello' and ErrUnexpectedEOF; the late write ErrClosedPipe."
    def main():
        r, w = io.pipe()
        done, write_err = gonb.Chan(), []
        def writer():
            w.write(b"hello")
            w.close()
            try: w.write(b"world")
            except Exception as e: write_err.append(e)
            done.send(True)
        gonb.go(writer)
        buf = bytearray(100)
        with pytest.raises(ErrUnexpectedEOF) as ei: io.read_full(r, buf)
        done.recv()
        assert buf[:ei.value.n] == b"hello"
        assert isinstance(write_err[0], ErrClosedPipe)
    gonb.run(main)


def test_pipe_close_error():
    "TestPipeCloseError: the first error given to CloseWithError sticks, on both ends."
    class testError1(Exception): pass
    class testError2(Exception): pass
    def main():
        r, w = io.pipe()
        e1 = testError1()
        r.close_with_error(e1)
        with pytest.raises(testError1): w.write(b"")
        r.close_with_error(testError2())
        with pytest.raises(testError1): w.write(b"")
        r, w = io.pipe()
        w.close_with_error(e1)
        with pytest.raises(testError1): r.read(bytearray())
        w.close_with_error(testError2())
        with pytest.raises(testError1): r.read(bytearray())
    gonb.run(main)


INPUT, COUNT, READ_SIZE = b"0123456789abcdef", 8, 2


def test_pipe_concurrent_write():
    "TestPipeConcurrent/Write: concurrent writes are served whole, one at a time."
    def main():
        r, w = io.pipe()
        def writer():
            gonb.sleep(0.001)
            assert w.write(INPUT) == len(INPUT)
        for _ in range(COUNT): gonb.go(writer)
        buf = bytearray(COUNT * len(INPUT))
        for i in range(0, len(buf), READ_SIZE):
            assert r.read(memoryview(buf)[i:i + READ_SIZE]) == READ_SIZE
        assert bytes(buf) == INPUT * COUNT
    gonb.run(main)


def test_pipe_concurrent_read():
    "TestPipeConcurrent/Read: concurrent reads take READ_SIZE each; the output is a permutation of groups."
    def main():
        r, w = io.pipe()
        c = gonb.Chan(COUNT * len(INPUT) // READ_SIZE)
        def reader():
            gonb.sleep(0.001)
            buf = bytearray(READ_SIZE)
            assert r.read(buf) == READ_SIZE
            c.send(bytes(buf))
        for _ in range(c.cap): gonb.go(reader)
        for _ in range(COUNT): assert w.write(INPUT) == len(INPUT)
        got = sorted(c.recv() for _ in range(c.cap))
        assert got == sorted([INPUT[i:i + READ_SIZE] for i in range(0, len(INPUT), READ_SIZE)] * COUNT)
    gonb.run(main)


def test_pipe_deadlock():
    "A read on a pipe nobody writes is a goroutine asleep forever: Go's deadlock, not a hang."
    def main():
        r, _ = io.pipe()
        r.read(bytearray(1))
    with pytest.raises(gonb.Deadlock): gonb.run(main)


# ---- io_test.go: SectionReader and a Writer that claims too much -----------------------------------

class StringsReaderAt:
    "strings.Reader's ReadAt, with gonb's ReaderAt contract (a short count is the end; nothing at all, EOF)."
    def __init__(self, s): self.b = s.encode()
    def read_at(self, p, off):
        if off < 0: raise ValueError("strings.Reader.ReadAt: negative offset")
        if off >= len(self.b):
            if len(p) == 0: return 0
            raise EOF()
        n = len(self.b[off:off + len(p)])
        p[:n] = self.b[off:off + n]
        return n


DAT = "a long sample data, 1234567890"


@pytest.mark.parametrize("data, off, n, bufLen, at, exp, err", [
    ("", 0, 10, 2, 0, "", EOF),
    (DAT, 0, len(DAT), 0, 0, "", None),
    (DAT, len(DAT), 1, 1, 0, "", EOF),
    (DAT, 0, len(DAT) + 2, len(DAT), 0, DAT, None),
    (DAT, 0, len(DAT), len(DAT) // 2, 0, DAT[:len(DAT) // 2], None),
    (DAT, 0, len(DAT), len(DAT), 0, DAT, None),
    (DAT, 0, len(DAT), len(DAT) // 2, 2, DAT[2:2 + len(DAT) // 2], None),
    (DAT, 3, len(DAT), len(DAT) // 2, 2, DAT[5:5 + len(DAT) // 2], None),
    (DAT, 3, len(DAT) // 2, len(DAT) // 2 - 2, 2, DAT[5:5 + len(DAT) // 2 - 2], None),
    (DAT, 3, len(DAT) // 2, len(DAT) // 2 + 2, 2, DAT[5:5 + len(DAT) // 2 - 2], "short"),
    (DAT, 0, 0, 0, -1, "", EOF),
    (DAT, 0, 0, 0, 1, "", EOF)])
def test_section_reader_read_at(data, off, n, bufLen, at, exp, err):
    """TestSectionReader_ReadAt. Go's (n, EOF) after bytes is gonb's short count ("short": n < len(buf));
    its (0, EOF) is gonb's EOF."""
    s = io.section_reader(StringsReaderAt(data), off, n)
    buf = bytearray(bufLen)
    if err is EOF:
        with pytest.raises(EOF): s.read_at(buf, at)
        return
    got = s.read_at(buf, at)
    assert got == len(exp) and buf[:got].decode() == exp
    assert (got < len(buf)) == (err == "short")


def test_section_reader_seek():
    "TestSectionReader_Seek: Seek behaves as bytes.Reader's Seek does, and past the end a read is EOF."
    class bytesReader:
        "bytes.Reader's Seek: a negative result is an error and moves nothing."
        def __init__(self, n): self.n, self.i = n, 0
        def seek(self, offset, whence):
            abs_ = {0: offset, 1: self.i + offset, 2: self.n + offset}[whence]
            if abs_ < 0: raise ValueError("bytes.Reader.Seek: negative position")
            self.i = abs_
            return abs_
    br = bytesReader(3)
    sr = io.section_reader(StringsReaderAt("foo"), 0, 3)
    for whence in (0, 1, 2):
        for offset in range(-3, 5):
            try: want = br.seek(offset, whence)
            except ValueError: want = None
            try: got = sr.seek(offset, whence)
            except ValueError: got = None
            assert got == want, (whence, offset)
    assert sr.seek(100, 0) == 100
    with pytest.raises(EOF): sr.read(bytearray(10))
    with pytest.raises(ValueError, match="Seek: invalid whence"): sr.seek(0, 7)


@pytest.mark.parametrize("data, want", [(DAT, 30), ("", 0)])
def test_section_reader_size(data, want):
    "TestSectionReader_Size."
    assert io.section_reader(StringsReaderAt(data), 0, len(data)).size() == want


def test_section_reader_max():
    "TestSectionReader_Max: a window running to Go's largest int64 reads to the source's end, then EOF."
    sr = io.section_reader(StringsReaderAt("abcdef"), 3, (1 << 63) - 1)
    assert sr.read(bytearray(3)) == 3
    with pytest.raises(EOF): sr.read(bytearray(3))


def test_copy_large_writer():
    "TestCopyLargeWriter (issue 39978): a Writer reporting more than it was given is errInvalidWrite; its own error wins."
    class largeWriter:
        def __init__(self, err=None): self.err = err
        def write(self, p):
            if self.err is not None: raise self.err
            return len(p) + 1
    with pytest.raises(OSError, match="invalid write result"): io.copy(largeWriter(), Buffer(b"hello, world."))
    want = OSError("largeWriterError")
    with pytest.raises(OSError) as ei: io.copy(largeWriter(want), Buffer(b"hello, world."))
    assert ei.value is want
