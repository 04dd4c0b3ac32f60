#pragma once
/// Block selection rules, update kinds and the indexed max-heap that makes
/// Gauss-Southwell-type rules cheap on sparse problems.

#include <cstdint>
#include <stdexcept>
#include <vector>

namespace itercore::bcd {

/// How the next block is chosen (Nutini, Laradji & Schmidt 2022, section 3).
enum class Rule : int {
  cyclic = 0,     ///< blocks in turn
  random = 1,     ///< uniform sampling
  lipschitz = 2,  ///< sampling with probability proportional to L_b
  gs = 3,         ///< Gauss-Southwell: largest ||grad_b||
  gsl = 4,        ///< largest ||grad_b|| / sqrt(L_b)
  gsq = 5,        ///< largest grad_b^T H_bb^{-1} grad_b (variable blocks: iterative hard thresholding)
  gs_r = 6,       ///< the lasso's coordinate rule: the largest proximal step (Gauss-Southwell-r)
  gsd = 7,        ///< largest sum_i grad_i^2 / D_{b,i}, D_b a diagonal bound of H_bb (Gauss-Southwell-diagonal)
};

/// True for the rules that pick the block with the largest score (gs, gsl, gsq, gsd).
constexpr bool greedy_rule(Rule r) noexcept {
  return r == Rule::gs || r == Rule::gsl || r == Rule::gsq || r == Rule::gsd;
}

/// How a chosen block is updated.
enum class Update : int {
  gradient = 0,         ///< x_b -= grad_b / L_b (proximal for L1 / bounds)
  matrix = 1,           ///< x_b -= H_bb^{-1} grad_b with H_bb the block Hessian (bound)
  newton = 2,           ///< Newton direction on the block with backtracking
  message_passing = 3,  ///< exact solve of a forest block in O(|b|)
  diagonal = 4,         ///< x_b -= D_b^{-1} grad_b, D_b the diagonal bound of GSD (proximal for L1 / bounds)
  tmp = 5,              ///< two-metric projection (Gafni & Bertsekas) for lower bounds: Newton on the free set
};

/// How blocks are formed.
enum class BlockKind : int {
  fixed = 0,          ///< a partition given up front
  variable = 1,       ///< the tau best coordinates under the rule, each iteration
  greedy_forest = 2,  ///< a forest grown in rule order each iteration (quadratics)
};

/// A partition of the variables 0..n-1 into blocks, CSR-style (borrowed):
/// block k holds idx[ptr[k] .. ptr[k+1]).
struct Partition {
  const std::int64_t* ptr = nullptr;
  const std::int64_t* idx = nullptr;
  std::int64_t n_blocks = 0;
  std::int64_t size(std::int64_t k) const { return ptr[k + 1] - ptr[k]; }
};

/// Checks that `blocks` partition 0..n-1: every block non-empty, every
/// variable in exactly one block. Returns the largest block size; throws
/// std::invalid_argument otherwise.
inline std::int64_t check_partition(const Partition& blocks, std::int64_t n) {
  const std::int64_t* block_ptr = blocks.ptr;
  const std::int64_t* block_idx = blocks.idx;
  const std::int64_t n_blocks = blocks.n_blocks;
  if (n_blocks < 1 || !block_ptr || !block_idx) throw std::invalid_argument("blocks: an empty partition");
  if (block_ptr[0] != 0 || block_ptr[n_blocks] != n)
    throw std::invalid_argument("blocks: the partition must cover every variable once");
  std::vector<char> seen(static_cast<std::size_t>(n), 0);
  std::int64_t largest = 0;
  for (std::int64_t k = 0; k < n_blocks; ++k) {
    const std::int64_t m = block_ptr[k + 1] - block_ptr[k];
    if (m < 1) throw std::invalid_argument("blocks: empty block");
    largest = m > largest ? m : largest;
    for (std::int64_t q = block_ptr[k]; q < block_ptr[k + 1]; ++q) {
      const std::int64_t i = block_idx[q];
      if (i < 0 || i >= n || seen[static_cast<std::size_t>(i)])
        throw std::invalid_argument("blocks: the partition must cover every variable once");
      seen[static_cast<std::size_t>(i)] = 1;
    }
  }
  return largest;
}

/// A binary max-heap over items 0..n-1 with keys that can be changed in
/// O(log n): the top is the item with the largest key (ties: any).
class IndexedMaxHeap {
 public:
  explicit IndexedMaxHeap(std::int64_t n = 0) { reset(n); }
  void reset(std::int64_t n) {
    key_.assign(n, 0.0);
    heap_.resize(n);
    pos_.resize(n);
    for (std::int64_t i = 0; i < n; ++i) heap_[i] = pos_[i] = i;
  }
  /// Sets all keys at once and heapifies in O(n).
  void assign(const std::vector<double>& keys) {
    key_ = keys;
    const std::int64_t n = static_cast<std::int64_t>(key_.size());
    heap_.resize(n);
    pos_.resize(n);
    for (std::int64_t i = 0; i < n; ++i) heap_[i] = pos_[i] = i;
    for (std::int64_t i = n / 2 - 1; i >= 0; --i) down(i);
  }
  std::int64_t top() const { return heap_[0]; }
  double top_key() const { return key_[heap_[0]]; }
  double key(std::int64_t item) const { return key_[item]; }
  void update(std::int64_t item, double k) {
    const double old = key_[item];
    key_[item] = k;
    if (k > old) up(pos_[item]);
    else if (k < old) down(pos_[item]);
  }

 private:
  void swap_at(std::int64_t a, std::int64_t b) {
    std::swap(heap_[a], heap_[b]);
    pos_[heap_[a]] = a;
    pos_[heap_[b]] = b;
  }
  void up(std::int64_t i) {
    while (i > 0) {
      const std::int64_t p = (i - 1) / 2;
      if (key_[heap_[p]] >= key_[heap_[i]]) break;
      swap_at(i, p);
      i = p;
    }
  }
  void down(std::int64_t i) {
    const std::int64_t n = static_cast<std::int64_t>(heap_.size());
    for (;;) {
      std::int64_t l = 2 * i + 1, best = i;
      if (l < n && key_[heap_[l]] > key_[heap_[best]]) best = l;
      if (l + 1 < n && key_[heap_[l + 1]] > key_[heap_[best]]) best = l + 1;
      if (best == i) break;
      swap_at(i, best);
      i = best;
    }
  }
  std::vector<double> key_;
  std::vector<std::int64_t> heap_, pos_;
};

}  // namespace itercore::bcd
