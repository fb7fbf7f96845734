"""Print the tensors of each checkpoint under a folder: name, dtype, shape."""
import json, os, struct, sys

for root, _, files in sorted(os.walk(sys.argv[1])):
    for f in sorted(files):
        if not f.endswith(".safetensors"):
            continue
        with open(os.path.join(root, f), "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            hdr = json.loads(fh.read(n))
        print(f"== {os.path.join(root, f)}")
        for k in sorted(hdr):
            if k != "__metadata__":
                print(f"  {k} {hdr[k]['dtype']} {hdr[k]['shape']}")
