# Overwrite the 24 bytes before a Parquet file's footer, the end of its last
# column chunk (the last leaf's), with 0xff: a reader that decodes that leaf
# fails, one that skips it does not. Usage: python3 garble_last_chunk.py FILE
import struct
import sys

p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
flen = struct.unpack('<I', b[-8:-4])[0]
fstart = len(b) - 8 - flen
for i in range(fstart - 24, fstart):
    b[i] = 0xff
open(p, 'wb').write(b)
