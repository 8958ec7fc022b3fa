#!/usr/bin/env python3
"""A client nobody here wrote: Python grpcio stubs generated from proto/ with grpcio-tools,
calling every kestrel.v1.Ocr RPC on a running server. Exits non-zero on any failure.

Usage: python3 grpc_python_client.py HOST:PORT DEV_DIR FINISH_REQUEST.pb EXPECTED_SHAPE

FINISH_REQUEST.pb is an encoded FinishRequest (features a device computed up to a split point);
EXPECTED_SHAPE (comma-separated) is the shape of the whole model's output.
"""
import os
import subprocess
import sys
import tempfile

import grpc


def main():
    addr, dev, finish_file = sys.argv[1], sys.argv[2], sys.argv[3]
    expected_shape = [int(d) for d in sys.argv[4].split(",")]
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    out = tempfile.mkdtemp(prefix="kestrel-stubs-")
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(root, "proto", "proto"),
         f"--python_out={out}", f"--grpc_python_out={out}", "kestrel/v1/ocr.proto"],
        check=True,
    )
    sys.path.insert(0, out)
    from kestrel.v1 import ocr_pb2, ocr_pb2_grpc  # noqa: E402

    read = lambda rel: open(os.path.join(dev, rel), "rb").read()
    with grpc.insecure_channel(addr) as channel:
        stub = ocr_pb2_grpc.OcrStub(channel)
        r = stub.Read(ocr_pb2.ReadRequest(image=read("paddleocr/doc/imgs/11.jpg"), id="x"), timeout=60)
        assert r.id == "x" and any("纯臻营养护发素" in l.text for l in r.page.lines), r
        d = stub.Detect(ocr_pb2.DetectRequest(image=read("paddleocr/doc/imgs/11.jpg")), timeout=60)
        assert len(d.boxes) >= 10 and d.width == 500, d
        g = stub.Recognize(ocr_pb2.RecognizeRequest(lines=[read("paddleocr/doc/imgs_words/ch/word_1.jpg")]), timeout=60)
        assert g.lines[0].text == "韩国小馆", g
        reqs = [ocr_pb2.ReadRequest(image=read("paddleocr/doc/imgs_words/ch/word_1.jpg"), id="a"),
                ocr_pb2.ReadRequest(image=b"junk", id="b")]
        answers = list(stub.ReadStream(iter(reqs), timeout=60))
        assert [a.id for a in answers] == ["a", "b"] and answers[1].error, answers
        finish = ocr_pb2.FinishRequest.FromString(open(finish_file, "rb").read())
        f = stub.Finish(finish, timeout=60)
        assert list(f.shape) == expected_shape, f.shape
        n = 1
        for d in f.shape:
            n *= d
        assert len(f.data) == n and all(0.0 <= p <= 1.0 for p in f.data[:1000]), len(f.data)
        bad_split = ocr_pb2.FinishRequest(model="rec", split_point="nope", tensor=finish.tensor)
        too_big = ocr_pb2.ReadRequest(image=bytes(17 << 20))
        for what, call, req in [
            ("corrupt image", stub.Read, ocr_pb2.ReadRequest(image=b"not an image")),
            ("unknown split point", stub.Finish, bad_split),
            ("oversize message", stub.Read, too_big),
        ]:
            try:
                call(req, timeout=60)
                raise AssertionError(f"{what} was accepted")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and e.details(), (what, e)
    print("python grpcio client: all RPCs ok (Read, Detect, Recognize, ReadStream, Finish)")


if __name__ == "__main__":
    main()
