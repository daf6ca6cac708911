// Nibble-held layers: a decoded int8 tensor whose codes take at most 16
// distinct values (4-bit and lower schemes: q4/q3/q2 groups, nf4's grid,
// their GPTQ variants) is held as 4-bit indices into a 16-entry table
// (layout: NibbleRowBytes in kernels.h) with the same scales, so a token
// reads about half the bytes of the int8 form. The kernels expand the
// indices to the very same codes, so results equal the int8 form's bit for
// bit. Tensors with 17 or more codes (int8, ec<bits>, asymmetric q<b>a
// groups, whose codes are [-z, 2^b - 1 - z] for a per-group zero point z)
// stay int8.
//
// Layout (NibbleLayout in kernels.h): rows, or, for tensors that fit it
// (NibbleGroupsFit: per-block or per-row scales, rows in 16s) and a kernel
// path that has matmul_n4_group16, groups of 16 rows interleaved (the fast
// form, for blocks of 32 above all).
//
// TQF_HELD_FORM=int8 in the environment turns nibble holding off,
// TQF_HELD_FORM=nibble-rows keeps nibbles in the row layout (for
// comparisons and tests); anything else, or unset, leaves both on.
// Thread-safety: pure functions; NibbleHoldingEnabled reads the
// environment once.
#ifndef TQF_RUNTIME_HELD_NIBBLES_H_
#define TQF_RUNTIME_HELD_NIBBLES_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "tqf/reader.h"
#include "tqf/rt/kernels.h"
#include "tqf/rt/layer_provider.h"

namespace tqf::rt {

// Whether layer providers hold fitting tensors as nibbles (see above).
bool NibbleHoldingEnabled();
// Whether nibble-held tensors may take the kGroups16 layout (see above).
bool NibbleGroupsEnabled();

// If codes[0..n) take at most 16 distinct values, writes them ascending to
// lut[0..16) (unused entries repeat the largest) and returns true; false
// as soon as a 17th appears.
bool FindNibbleTable(const int8_t* codes, size_t n, int8_t lut[16]);

// Packs rows x cols codes, each one of lut's, into rows x NibbleRowBytes(cols)
// bytes at `out`. Precondition: every code is in lut.
void PackNibbles(const int8_t* codes, size_t rows, size_t cols, const int8_t lut[16], uint8_t* out);

// The same codes in the kGroups16 layout (kernels.h); rows, cols and the
// block must fit it (NibbleGroupsFit). Precondition as PackNibbles.
void PackNibbleGroups16(const int8_t* codes, size_t rows, size_t cols, const int8_t lut[16],
                        uint8_t* out);

// The layout a nibble-held `t` takes: kGroups16 where `groups` and it fits.
NibbleLayout NibbleLayoutFor(const TensorInfo& t, bool groups);
// Bytes of `t`'s codes held as nibbles in `layout`.
size_t NibbleTensorBytes(const TensorInfo& t, NibbleLayout layout);
// Writes `t`'s codes (each one of lut's) as nibbles in `layout` to
// out[0..NibbleTensorBytes) and its t.num_params params to params_out,
// interleaved as kGroups16 wants them there.
void PackNibbleTensor(const TensorInfo& t, const int8_t* codes, const float* params,
                      const int8_t lut[16], NibbleLayout layout, uint8_t* out, float* params_out);

// Where each tensor of a layer goes in its nibble-held buffer.
struct NibbleLayerPlan {
  std::vector<size_t> offsets, params, luts;   // luts[i] == SIZE_MAX: tensor i stays int8
  std::vector<NibbleLayout> layouts;           // per tensor (nibble-held ones)
  std::vector<std::array<int8_t, 16>> tables;  // per tensor (nibble-held ones)
  size_t bytes = 0;                            // the buffer, page-rounded
  size_t nibble_tensors = 0;
};

// The plan for `decoded`, the layer of `reader`'s tensors `tensors`, as a
// LayerProvider laid it out (LayoutOf): nibble-held for each 2-D int8
// tensor whose codes fit 16 values (in groups of 16 rows where `groups`
// and the tensor fits them), the rest copied as they are.
NibbleLayerPlan PlanNibbleLayer(const Reader& reader, const std::vector<size_t>& tensors,
                                const DecodedLayer& decoded, int threads, bool groups);

// Writes `decoded` into out[0..plan.bytes) as `plan` says.
void WriteNibbleLayer(const NibbleLayerPlan& plan, const Reader& reader,
                      const std::vector<size_t>& tensors, const DecodedLayer& decoded, uint8_t* out,
                      int threads);

}  // namespace tqf::rt

#endif  // TQF_RUNTIME_HELD_NIBBLES_H_
