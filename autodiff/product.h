// product.h: every matrix product of the project, on as many threads as asked for, and the long
// elementwise loops between them on the same threads.
//
// OpenBLAS itself always runs on one thread. A product of at least a million multiply-adds is
// cut into `threads()` blocks of rows of C (or of columns, when C is wider than tall), each
// starting on a multiple of 16; each block is one single-threaded cblas_dgemm, the first on the
// calling thread, the others on helper threads. With OpenBLAS's Haswell and Zen kernels every
// entry of C is then the same sum, in the same order, as on one thread, so results are the same
// bytes whatever the thread count (tests hold it). Its SkylakeX and Cooperlake kernels form the
// entries in C's last few columns (an edge tile) differently depending on where a block starts,
// so there the last bits can depend on the thread count, as they do with OpenBLAS's own
// threads; the same thread count still gives the same bytes. Which kernels run depends on the
// CPU and on OPENBLAS_CORETYPE (openblas_get_corename() names them). OpenBLAS's own
// threads also split the thin products of small networks poorly (a few wide rows against many
// narrow columns), which cutting C into contiguous blocks of rows does not: that is why the
// products are cut here and not left to OpenBLAS.
#pragma once

#include <cstddef>
#include <functional>

namespace awd {

// Threads for products; 1 by default, as the command line's --threads. A helper waits for work
// spinning briefly, then asleep. LAPACK's routines (eigen-decompositions) run on one thread, so
// their results do not depend on this either.
void set_threads(int threads);
int threads();

// While one is alive, the products its thread asks for run uncut on that thread. Each job of
// parallel_for (nn/parallel.h) holds one. Without it, whichever job asked first would get the
// helpers (a product asked for while another holds them runs uncut), and with kernels whose
// last bits depend on the cut (above), a job's bytes would depend on timing.
class ProductsOnThisThread {
public:
    ProductsOnThisThread();
    ~ProductsOnThisThread();
    ProductsOnThisThread(const ProductsOnThisThread&) = delete;
    ProductsOnThisThread& operator=(const ProductsOnThisThread&) = delete;

private:
    bool previous_;
};

// C = alpha op(A) op(B) + beta C on row-major arrays: cblas_dgemm's arguments without the order.
// op(A) is (m, k), op(B) is (k, n), C is (m, n) with leading dimensions lda, ldb, ldc.
void product(bool ta, bool tb, int m, int n, int k, double alpha, const double* a, int lda, const double* b, int ldb,
             double beta, double* c, int ldc);

// range(begin, end) over [0, n) cut into threads() contiguous blocks (each but the last a
// multiple of 8 entries long), the first on the calling thread, the others on the product helpers.
// For loops in which every entry is computed on its own (no sum across entries): the result is
// then the same bytes whatever the cut. One block, on the calling thread, when n < 2 * minimum,
// under ProductsOnThisThread, or while another thread's product holds the helpers. range must
// not throw.
void for_entry_blocks(size_t n, size_t minimum, const std::function<void(size_t begin, size_t end)>& range);

}  // namespace awd
