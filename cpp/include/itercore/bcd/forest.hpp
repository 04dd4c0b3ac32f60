#pragma once
/// Forest blocks for block coordinate descent on sparse quadratics.
///
/// When the variables of a block b induce a forest in the dependency graph of
/// a symmetric matrix A (an edge i-j wherever A_ij != 0, i != j), the block
/// system A_bb d = r can be solved exactly in O(|b|) by Gaussian elimination
/// ordered from the leaves to the roots (message passing): eliminating a leaf
/// only changes its parent's diagonal and right-hand side, so there is no
/// fill-in. This header builds the elimination order of a block (refusing a
/// block that contains a cycle), solves with it, and grows a forest greedily
/// in a given priority order with a union-find cycle check.

#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "itercore/common/csr.hpp"

namespace itercore::bcd {

/// Elimination order of one forest block: `nodes[k]` is a global variable,
/// listed so that every parent precedes its children (BFS order per tree);
/// `parent[k]` is the local position of k's parent (-1 for a root) and
/// `weight[k]` the coupling A_{nodes[k], parent}.
template <class Scalar>
struct ForestBlock {
  std::vector<std::int64_t> nodes;
  std::vector<std::int64_t> parent;
  std::vector<Scalar> weight;
  std::size_t size() const noexcept { return nodes.size(); }
};

/// Scratch marks shared by the forest routines (sized to the variable count).
struct ForestScratch {
  std::vector<std::int64_t> local;  ///< local position of a variable in the current block, or -1
  std::vector<std::int64_t> uf;     ///< union-find parents (greedy growth)
  std::vector<std::int64_t> queue;
  explicit ForestScratch(std::int64_t n = 0) : local(n, -1), uf(n, -1) {}
  void resize(std::int64_t n) {
    local.assign(n, -1);
    uf.assign(n, -1);
  }
};

/// Builds the elimination order of `block` (global variable ids, no duplicates).
/// Returns false when the induced graph has a cycle (the block is not a forest);
/// `out` is then unspecified. O(sum of the row lengths of the block).
template <class Scalar, class Index>
bool build_forest_block(const CsrView<Scalar, Index>& A, const std::int64_t* block, std::int64_t size,
                        ForestBlock<Scalar>& out, ForestScratch& s) {
  out.nodes.clear();
  out.parent.clear();
  out.weight.clear();
  out.nodes.reserve(size);
  out.parent.reserve(size);
  out.weight.reserve(size);
  // local[v] = -2: in the block, not yet reached; >= 0: its position in `out`.
  for (std::int64_t k = 0; k < size; ++k) s.local[block[k]] = -2;
  bool forest = true;
  for (std::int64_t k = 0; k < size && forest; ++k) {
    const std::int64_t root = block[k];
    if (s.local[root] != -2) continue;
    s.local[root] = static_cast<std::int64_t>(out.nodes.size());
    out.nodes.push_back(root);
    out.parent.push_back(-1);
    out.weight.push_back(Scalar(0));
    for (std::size_t head = out.nodes.size() - 1; head < out.nodes.size() && forest; ++head) {
      const std::int64_t v = out.nodes[head];
      const std::int64_t pv = out.parent[head];
      const std::int64_t parent_global = pv >= 0 ? out.nodes[pv] : -1;
      for (Index p = A.indptr[v]; p < A.indptr[v + 1]; ++p) {
        const std::int64_t u = A.indices[p];
        if (u == v || A.data[p] == Scalar(0)) continue;
        const std::int64_t lu = s.local[u];
        if (lu == -1) continue;  // outside the block
        if (u == parent_global) continue;
        if (lu >= 0) {  // reached already and not our parent: a cycle
          forest = false;
          break;
        }
        s.local[u] = static_cast<std::int64_t>(out.nodes.size());
        out.nodes.push_back(u);
        out.parent.push_back(static_cast<std::int64_t>(head));
        out.weight.push_back(A.data[p]);
      }
    }
  }
  for (std::int64_t k = 0; k < size; ++k) s.local[block[k]] = -1;
  return forest;
}

/// Solves A_bb d = rhs on a forest block by leaf-to-root elimination and
/// root-to-leaf substitution. `diag` holds A's diagonal (global), `rhs` and `d`
/// are local (ordered like `fb.nodes`); `work` is scratch of at least |b|.
/// Returns false when a pivot is not positive (A_bb is not positive definite).
template <class Scalar>
bool forest_solve(const ForestBlock<Scalar>& fb, const Scalar* diag, std::vector<Scalar>& rhs,
                  std::vector<Scalar>& work, Scalar* d) {
  const std::int64_t m = static_cast<std::int64_t>(fb.size());
  Scalar* piv = work.data();
  for (std::int64_t k = 0; k < m; ++k) piv[k] = diag[fb.nodes[k]];
  for (std::int64_t k = m - 1; k >= 0; --k) {
    if (!(piv[k] > Scalar(0))) return false;
    const std::int64_t p = fb.parent[k];
    if (p < 0) continue;
    const Scalar w = fb.weight[k] / piv[k];
    piv[p] -= w * fb.weight[k];
    rhs[p] -= w * rhs[k];
  }
  for (std::int64_t k = 0; k < m; ++k) {
    const std::int64_t p = fb.parent[k];
    const Scalar r = p < 0 ? rhs[k] : rhs[k] - fb.weight[k] * d[p];
    d[k] = r / piv[k];
  }
  return true;
}

inline std::int64_t uf_find(std::vector<std::int64_t>& uf, std::int64_t v) {
  while (uf[v] != v) {
    uf[v] = uf[uf[v]];
    v = uf[v];
  }
  return v;
}

/// Grows a forest block greedily: candidates are visited in the given order
/// (best rule value first) and a variable joins unless it would close a cycle
/// with the variables already taken, i.e. unless two of its taken neighbours
/// already lie in the same tree (union-find). Stops after `max_size` variables.
/// Writes the chosen variables to `block` and returns how many.
template <class Scalar, class Index>
std::int64_t grow_greedy_forest(const CsrView<Scalar, Index>& A, const std::int64_t* order, std::int64_t n_candidates,
                                std::int64_t max_size, std::vector<std::int64_t>& block, ForestScratch& s) {
  block.clear();
  std::vector<std::int64_t> roots;
  for (std::int64_t c = 0; c < n_candidates && static_cast<std::int64_t>(block.size()) < max_size; ++c) {
    const std::int64_t v = order[c];
    roots.clear();
    bool cycle = false;
    for (Index p = A.indptr[v]; p < A.indptr[v + 1]; ++p) {
      const std::int64_t u = A.indices[p];
      if (u == v || s.uf[u] < 0 || A.data[p] == Scalar(0)) continue;
      const std::int64_t r = uf_find(s.uf, u);
      for (std::int64_t q : roots)
        if (q == r) {
          cycle = true;
          break;
        }
      if (cycle) break;
      roots.push_back(r);
    }
    if (cycle) continue;
    s.uf[v] = v;
    for (std::int64_t r : roots) s.uf[r] = v;
    block.push_back(v);
  }
  for (std::int64_t v : block) s.uf[v] = -1;
  return static_cast<std::int64_t>(block.size());
}

/// Greedy graph colouring in index order: each variable takes the smallest
/// colour none of its neighbours has. Every colour class is an independent set
/// (a diagonal block); on a 2-D lattice in row-major order this is red-black.
template <class Scalar, class Index>
std::vector<std::int64_t> greedy_coloring(const CsrView<Scalar, Index>& A) {
  const std::int64_t n = A.rows;
  std::vector<std::int64_t> color(n, -1), mark;
  for (std::int64_t v = 0; v < n; ++v) {
    for (Index p = A.indptr[v]; p < A.indptr[v + 1]; ++p) {
      const std::int64_t u = A.indices[p];
      if (u == v || color[u] < 0 || A.data[p] == Scalar(0)) continue;
      if (static_cast<std::int64_t>(mark.size()) <= color[u]) mark.resize(color[u] + 1, -1);
      mark[color[u]] = v;
    }
    std::int64_t c = 0;
    while (c < static_cast<std::int64_t>(mark.size()) && mark[c] == v) ++c;
    color[v] = c;
  }
  return color;
}

/// Partition into forests, greedily: each variable (in index order) joins the
/// first forest in which it closes no cycle (one union-find per forest).
/// Returns the forest of each variable.
template <class Scalar, class Index>
std::vector<std::int64_t> greedy_forest_partition(const CsrView<Scalar, Index>& A) {
  const std::int64_t n = A.rows;
  std::vector<std::int64_t> forest(n, -1);
  std::vector<std::vector<std::int64_t>> uf;  // uf[f][v]: parent in forest f (-1 absent)
  std::vector<std::int64_t> roots;
  for (std::int64_t v = 0; v < n; ++v) {
    for (std::int64_t f = 0;; ++f) {
      if (f == static_cast<std::int64_t>(uf.size())) uf.emplace_back(n, -1);
      auto& u = uf[f];
      roots.clear();
      bool cycle = false;
      for (Index p = A.indptr[v]; p < A.indptr[v + 1] && !cycle; ++p) {
        const std::int64_t w = A.indices[p];
        if (w == v || forest[w] != f || A.data[p] == Scalar(0)) continue;
        const std::int64_t r = uf_find(u, w);
        for (std::int64_t q : roots) cycle = cycle || q == r;
        roots.push_back(r);
      }
      if (cycle) continue;
      u[v] = v;
      for (std::int64_t r : roots) u[r] = v;
      forest[v] = f;
      break;
    }
  }
  return forest;
}

}  // namespace itercore::bcd
