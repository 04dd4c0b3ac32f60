#pragma once
/// Multicolour orderings for parallel Gauss-Seidel/SOR sweeps.
///
/// Two rows may be updated at once when neither reads the other's unknown,
/// i.e. a_ik = a_ki = 0. A greedy colouring of the symmetrised sparsity
/// pattern gives colour classes with that property; permuting the matrix to
/// colour order (P A P^T) makes each class a contiguous block of rows, so a
/// sweep is a sequence of parallel loops over contiguous memory. The plan
/// depends on the pattern only: values of any matrix with the same pattern
/// are permuted by a gather through `source`.

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <utility>
#include <vector>

#include "../common/csr.hpp"

namespace itercore::linalg {

/// A multicolour permutation of a square sparsity pattern.
template <class Index>
struct MulticolorPlan {
  std::vector<Index> perm;       ///< perm[new_row] = old_row
  std::vector<Index> color_ptr;  ///< rows [color_ptr[c], color_ptr[c+1]) have colour c
  std::vector<Index> indptr;     ///< the permuted pattern (columns sorted within rows)
  std::vector<Index> indices;
  std::vector<Index> source;     ///< permuted data[k] = original data[source[k]]
  Index n_colors() const noexcept { return static_cast<Index>(color_ptr.size()) - 1; }
};

/// Greedy (first-fit, natural order) colouring of the pattern of A + A^T,
/// ignoring the diagonal. Returns the colour of each row.
template <class Scalar, class Index>
std::vector<Index> greedy_coloring(const CsrView<Scalar, Index>& A) {
  if (A.rows != A.cols) throw std::invalid_argument("greedy_coloring: A must be square");
  const Index n = A.rows;
  const Index nnz = A.nnz();
  // Transposed pattern (who references row i), built by counting sort.
  std::vector<Index> tptr(static_cast<size_t>(n) + 1, 0), tind(static_cast<size_t>(nnz));
  for (Index p = 0; p < nnz; ++p) ++tptr[A.indices[p] + 1];
  for (Index i = 0; i < n; ++i) tptr[i + 1] += tptr[i];
  {
    std::vector<Index> fill(tptr.begin(), tptr.end() - 1);
    for (Index i = 0; i < n; ++i)
      for (Index p = A.indptr[i]; p < A.indptr[i + 1]; ++p) tind[fill[A.indices[p]]++] = i;
  }
  std::vector<Index> color(static_cast<size_t>(n), -1);
  std::vector<Index> seen;  // seen[c] == i marks colour c as taken by a neighbour of i
  for (Index i = 0; i < n; ++i) {
    auto mark = [&](Index j) {
      if (j != i && color[j] >= 0) {
        if (static_cast<size_t>(color[j]) >= seen.size()) seen.resize(color[j] + 1, -1);
        seen[color[j]] = i;
      }
    };
    for (Index p = A.indptr[i]; p < A.indptr[i + 1]; ++p) mark(A.indices[p]);
    for (Index p = tptr[i]; p < tptr[i + 1]; ++p) mark(tind[p]);
    Index c = 0;
    while (static_cast<size_t>(c) < seen.size() && seen[c] == i) ++c;
    color[i] = c;
  }
  return color;
}

/// Colours A's pattern and builds the permuted pattern and the value gather.
template <class Scalar, class Index>
MulticolorPlan<Index> build_multicolor_plan(const CsrView<Scalar, Index>& A) {
  const Index n = A.rows;
  const std::vector<Index> color = greedy_coloring(A);
  MulticolorPlan<Index> plan;
  const Index n_colors = n > 0 ? *std::max_element(color.begin(), color.end()) + 1 : 0;
  plan.color_ptr.assign(static_cast<size_t>(n_colors) + 1, 0);
  for (Index i = 0; i < n; ++i) ++plan.color_ptr[color[i] + 1];
  for (Index c = 0; c < n_colors; ++c) plan.color_ptr[c + 1] += plan.color_ptr[c];
  plan.perm.resize(static_cast<size_t>(n));
  std::vector<Index> inverse(static_cast<size_t>(n));
  {
    std::vector<Index> fill(plan.color_ptr.begin(), plan.color_ptr.end() - 1);
    for (Index i = 0; i < n; ++i) {  // stable: natural order within a colour
      const Index r = fill[color[i]]++;
      plan.perm[r] = i;
      inverse[i] = r;
    }
  }
  const Index nnz = A.nnz();
  plan.indptr.assign(static_cast<size_t>(n) + 1, 0);
  plan.indices.resize(static_cast<size_t>(nnz));
  plan.source.resize(static_cast<size_t>(nnz));
  std::vector<std::pair<Index, Index>> row;
  for (Index r = 0; r < n; ++r) {
    const Index old = plan.perm[r];
    row.clear();
    for (Index p = A.indptr[old]; p < A.indptr[old + 1]; ++p) row.emplace_back(inverse[A.indices[p]], p);
    std::sort(row.begin(), row.end());
    const Index start = plan.indptr[r];
    for (size_t k = 0; k < row.size(); ++k) {
      plan.indices[start + k] = row[k].first;
      plan.source[start + k] = row[k].second;
    }
    plan.indptr[r + 1] = start + static_cast<Index>(row.size());
  }
  return plan;
}

}  // namespace itercore::linalg
