"""Rewrites a GGUF without its rope_freqs.weight tensor (llama.cpp's form of
Llama 3 rope scaling), keeping every other key and tensor, for the interop
test. Uses gguf-py from the llama.cpp checkout (PYTHONPATH).

usage: regguf.py IN.gguf OUT.gguf none
       regguf.py IN.gguf OUT.gguf params FACTOR LOW HIGH ORIGINAL_CONTEXT
  none    the scaling dropped (the model llama.cpp runs when it ignores it)
  params  the scaling as <arch>.rope.scaling.* keys: the parameter form a
          Hugging Face config.json's rope_scaling imports to in tqf
"""
import sys
from gguf import GGUFReader, GGUFWriter, GGUFValueType
src, dst, mode = sys.argv[1], sys.argv[2], sys.argv[3]
r = GGUFReader(src)
arch = str(bytes(r.fields["general.architecture"].parts[-1]), "utf-8")
w = GGUFWriter(dst, arch)
for f in r.fields.values():
    if f.name.startswith("GGUF.") or f.name == "general.architecture":
        continue
    t = f.types[0]
    if t == GGUFValueType.ARRAY:
        sub = f.types[-1]
        if sub == GGUFValueType.STRING:
            val = [str(bytes(f.parts[i]), "utf-8") for i in f.data]
        else:
            val = [f.parts[i].tolist()[0] for i in f.data]
        w.add_key_value(f.name, val, t, sub_type=sub)
    elif t == GGUFValueType.STRING:
        w.add_key_value(f.name, str(bytes(f.parts[-1]), "utf-8"), t)
    else:
        w.add_key_value(f.name, f.parts[-1].tolist()[0], t)
if mode == "params":
    w.add_string(arch + ".rope.scaling.type", "llama3")
    w.add_float32(arch + ".rope.scaling.factor", float(sys.argv[4]))
    w.add_float32(arch + ".rope.scaling.low_freq_factor", float(sys.argv[5]))
    w.add_float32(arch + ".rope.scaling.high_freq_factor", float(sys.argv[6]))
    w.add_uint32(arch + ".rope.scaling.original_context_length", int(sys.argv[7]))
for t in r.tensors:
    if t.name == "rope_freqs.weight":
        continue
    w.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
