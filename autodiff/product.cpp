// product.cpp: large products cut into blocks of C, one per thread, each a one-thread dgemm.
#include "autodiff/product.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace awd {

namespace {

constexpr double kMinimumMultiplyAdds = 1e6;  // below this, handing work over costs more than it saves
// OpenBLAS computes C in tiles of a few rows and columns (4 x 8 in its Haswell kernels), and
// an entry's sum is formed the same way wherever its tile lies, but not in a tile cut short at
// an edge. Blocks that start on multiples of 16 keep every entry in a tile of the same kind as
// on one thread (measured with the Haswell kernels: blocks cut at row 33 of 100 changed bits;
// none of 1,200 random shapes did with this rule). The Cooperlake kernels' edge tiles depend on
// more than that: 497 of 1,500 random shapes changed bits with this rule, 13 of 400 with blocks
// on multiples of 192, too coarse to cut the 100-row products of small networks at all.
constexpr int kTile = 16;
constexpr int kSpins = 20000;  // about 0.5 ms of spinning (20 ns a pause here) before a helper sleeps

inline void pause() {  // tells the core this is a spin loop
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Helpers that run blocks 1 .. threads-1 of one product at a time; block 0 is the caller's.
class Helpers {
public:
    ~Helpers() { resize(1); }

    void resize(int threads) {
        std::lock_guard<std::mutex> busy(busy_);
        if (!workers_.empty()) {  // stop the current helpers: a round with `stop_` set
            stop_ = true;
            round_.fetch_add(1, std::memory_order_release), round_.notify_all();
            for (std::thread& t : workers_) t.join();
            workers_.clear(), stop_ = false;
        }
        const unsigned start = round_.load(std::memory_order_relaxed);  // a helper joins from this round on
        for (int k = 1; k < threads; ++k) workers_.emplace_back([this, k, start] { work(k, start); });
        threads_.store(threads, std::memory_order_relaxed);
    }
    int threads() const { return threads_.load(std::memory_order_relaxed); }

    // Runs block(0 .. threads-1), block 0 here; false (nothing run) while another thread's
    // product holds the helpers.
    template <class Block>
    bool run(const Block& block) {
        std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
        if (!busy.owns_lock()) return false;
        block_ = [&block](int k) { block(k); };
        remaining_.store((int)workers_.size(), std::memory_order_relaxed);
        round_.fetch_add(1, std::memory_order_release), round_.notify_all();
        block(0);
        for (int left; (left = remaining_.load(std::memory_order_acquire)) > 0;)
            remaining_.wait(left, std::memory_order_acquire);
        return true;
    }

private:
    void work(int k, unsigned seen) {
        for (;;) {
            unsigned now = seen;
            for (int spin = 0; spin < kSpins && (now = round_.load(std::memory_order_acquire)) == seen; ++spin) pause();
            if (now == seen) {
                round_.wait(seen, std::memory_order_acquire);
                continue;
            }
            seen = now;
            if (stop_) return;
            block_(k);
            if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) remaining_.notify_one();
        }
    }

    std::mutex busy_;  // one product (or resize) at a time
    std::vector<std::thread> workers_;
    std::function<void(int)> block_;
    std::atomic<unsigned> round_{0};
    std::atomic<int> remaining_{0};
    bool stop_ = false;
    std::atomic<int> threads_{1};
};

// OpenBLAS starts with a thread per core; from the program's start it runs on one (set before
// main, after the library's own start-up), for products and LAPACK alike.
const bool g_one_blas_thread = (openblas_set_num_threads(1), true);

thread_local bool g_uncut = false;  // set by ProductsOnThisThread

Helpers& helpers() {
    static Helpers h;
    return h;
}

void one_thread_product(bool ta, bool tb, int m, int n, int k, double alpha, const double* a, int lda, const double* b,
                        int ldb, double beta, double* c, int ldc) {
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda,
                b, ldb, beta, c, ldc);
}

}  // namespace

void set_threads(int threads) {
    if (threads < 1) throw std::invalid_argument("threads must be at least 1, not " + std::to_string(threads));
    openblas_set_num_threads(1);
    if (threads != helpers().threads()) helpers().resize(threads);
}

int threads() { return helpers().threads(); }

ProductsOnThisThread::ProductsOnThisThread() : previous_(g_uncut) { g_uncut = true; }
ProductsOnThisThread::~ProductsOnThisThread() { g_uncut = previous_; }

void product(bool ta, bool tb, int m, int n, int k, double alpha, const double* a, int lda, const double* b, int ldb,
             double beta, double* c, int ldc) {
    const int parts = helpers().threads();
    const bool by_rows = m >= n;
    const int whole = by_rows ? m : n, tiles = whole / kTile;  // blocks start on a tile boundary
    if (parts > 1 && !g_uncut && tiles >= parts && (double)m * n * k >= kMinimumMultiplyAdds) {
        // Block p holds rows (or columns) [lo, hi) of C, lo and hi multiples of kTile except the
        // last hi. Rows of op(A) start at a + i lda (a + i if A is transposed); columns of op(B)
        // at b + j (b + j ldb if B is transposed).
        const bool ran = helpers().run([&](int p) {
            const int lo = tiles * p / parts * kTile, hi = p + 1 == parts ? whole : tiles * (p + 1) / parts * kTile;
            if (by_rows)
                one_thread_product(ta, tb, hi - lo, n, k, alpha, ta ? a + lo : a + (size_t)lo * lda, lda, b, ldb, beta,
                                   c + (size_t)lo * ldc, ldc);
            else
                one_thread_product(ta, tb, m, hi - lo, k, alpha, a, lda, tb ? b + (size_t)lo * ldb : b + lo, ldb, beta,
                                   c + lo, ldc);
        });
        if (ran) return;
    }
    one_thread_product(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void for_entry_blocks(size_t n, size_t minimum, const std::function<void(size_t, size_t)>& range) {
    const size_t parts = (size_t)helpers().threads(), runs = n / 8;  // blocks start on multiples of 8 entries
    if (parts > 1 && !g_uncut && n >= 2 * minimum && runs >= parts &&
        helpers().run([&](int p) {
            range(runs * p / parts * 8, (size_t)p + 1 == parts ? n : runs * (p + 1) / parts * 8);
        }))
        return;
    range(0, n);
}

}  // namespace awd
