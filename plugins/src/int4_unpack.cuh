// INT4 -> INT8 unpacking in registers, shared by the GEMM families.
//
// Weights arrive in the exported layout nk_u4x8: 32-bit word j of row n holds
// k = 8j..8j+7 as nibbles u = q + 8 (nibble i in bits 4i..4i+3).
//
// lo = w & 0x0F0F0F0F holds nibbles 0,2,4,6 and hi = (w >> 4) & 0x0F0F0F0F
// nibbles 1,3,5,7, one per byte; __byte_perm interleaves them into
// (u0,u1,u2,u3) and (u4,u5,u6,u7). Then per byte q = u - 8 without carries
// between bytes: v = u ^ 8 is q as a 4-bit two's complement value, and
// v | ((v & 8) * 0x1E) sign-extends it (8 * 0x1E = 0xF0).
#pragma once

#include <stdint.h>

namespace is {

// Four nibbles (as bytes u in 0..15) -> four int8 q = u - 8.
__device__ __forceinline__ uint32_t nibbles_to_s8(uint32_t u) {
  uint32_t v = u ^ 0x08080808u;
  return v | ((v & 0x08080808u) * 0x1Eu);
}

// One packed word (k = base..base+7) -> b0 (k base..base+3) and b1 (k base+4..base+7), as int8x4.
__device__ __forceinline__ void unpack_word(uint32_t w, uint32_t& b0, uint32_t& b1) {
  uint32_t lo = w & 0x0F0F0F0Fu, hi = (w >> 4) & 0x0F0F0F0Fu;
  b0 = nibbles_to_s8(__byte_perm(lo, hi, 0x5140));
  b1 = nibbles_to_s8(__byte_perm(lo, hi, 0x7362));
}

// One packed word -> its even nibbles (k = base+0,2,4,6) and odd nibbles
// (k = base+1,3,5,7) as int8x4, in 6 integer operations (no byte
// interleave: the wgmma path orders the activations to match instead).
// Per byte, u + 0x78 stays below 0x100 (no carry into the next byte) and
// ^ 0x80 then leaves q = u - 8 as a two's complement byte. The odd nibbles'
// shift and add fuse into one LEA.HI.
__device__ __forceinline__ void unpack_word_even_odd(uint32_t w, uint32_t& even, uint32_t& odd) {
  even = ((w & 0x0F0F0F0Fu) + 0x78787878u) ^ 0x80808080u;
  odd = (((w & 0xF0F0F0F0u) >> 4) + 0x78787878u) ^ 0x80808080u;
}

// One packed word -> 16 q of its even and odd nibbles as int8x4, in 3
// operations instead of unpack_word_even_odd's 6. Each nibble goes to the
// high half of its byte (the even ones shifted up by 4, the odd ones already
// there) and the low half is cleared: the byte is 16 u as an unsigned value,
// and ^ 0x80 makes it 16 u - 128 = 16 (u - 8) = 16 q as a two's complement
// byte (q = -8..7: 16 q = -128..112 fits). A product sum over these is 16
// times the true one, exactly (|16 P| <= 16 * 127 * 8 * group_size < 2^31 for
// groups of up to 65536 k, wgmma_supported); the wgmma path shifts each group's partial sum right by 4, exact
// because it is a multiple of 16, before the group scale (add_group's kShift).
__device__ __forceinline__ void unpack_word_even_odd_x16(uint32_t w, uint32_t& even, uint32_t& odd) {
  even = ((w << 4) & 0xF0F0F0F0u) ^ 0x80808080u;
  odd = (w & 0xF0F0F0F0u) ^ 0x80808080u;
}

// A thread's A fragments of one k-tile on the wgmma path (w4a8_wgmma.cu,
// "The k permutation"): w0 and w1 are its 16 weight bytes of rows g and g + 8;
// word st of them is k32 step st, whose even nibbles fill f[st][0] (row g) /
// f[st][1] (row g + 8) and odd nibbles f[st][2] / f[st][3], as
// unpack(word, even, odd) turns a word into them.
template <typename Unpack>
__device__ __forceinline__ void unpack_a_fragments_with(Unpack unpack, const uint4& w0, const uint4& w1,
                                                        uint32_t (&f)[4][4]) {
  unpack(w0.x, f[0][0], f[0][2]);
  unpack(w1.x, f[0][1], f[0][3]);
  unpack(w0.y, f[1][0], f[1][2]);
  unpack(w1.y, f[1][1], f[1][3]);
  unpack(w0.z, f[2][0], f[2][2]);
  unpack(w1.z, f[2][1], f[2][3]);
  unpack(w0.w, f[3][0], f[3][2]);
  unpack(w1.w, f[3][1], f[3][3]);
}

// The same with the library's unpack: kX16, as 16 q (unpack_word_even_odd_x16),
// else as q (unpack_word_even_odd). Shared with plugins/tests/decode_chain.cu
// and wgmma_loop_rate.cu.
template <bool kX16>
__device__ __forceinline__ void unpack_a_fragments(const uint4& w0, const uint4& w1, uint32_t (&f)[4][4]) {
  unpack_a_fragments_with(
      [](uint32_t w, uint32_t& even, uint32_t& odd) {
        if constexpr (kX16) unpack_word_even_odd_x16(w, even, odd);
        else unpack_word_even_odd(w, even, odd);
      },
      w0, w1, f);
}

}  // namespace is
