// parallel.h: independent jobs on a few worker threads.
// Is not: the threads of one matrix product (product.h).
//
// Job i must write only its own outputs and draw only from its own random stream (seeded by i);
// then the results do not depend on the thread count or on which thread ran which job (a job's
// matrix products run uncut on its own thread: product.h). The autodiff keeps its state per
// thread (the pool of freed arrays, the pass counters), so jobs may build and differentiate
// graphs. The first exception a job throws stops the remaining jobs from starting and is
// rethrown here once every thread has finished.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "autodiff/product.h"

namespace awd {

inline void parallel_for(size_t jobs, int threads, const std::function<void(size_t)>& job) {
    std::atomic<size_t> next{0};
    std::exception_ptr failure;
    std::mutex failure_lock;
    auto worker = [&] {
        const ProductsOnThisThread uncut;  // a job's products never wait for, nor race for, the helpers
        for (size_t i; (i = next++) < jobs;) {
            try {
                job(i);
            } catch (...) {
                std::lock_guard<std::mutex> lock(failure_lock);
                if (!failure) failure = std::current_exception();
                next = jobs;
            }
        }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads && (size_t)t < jobs; ++t) pool.emplace_back(worker);
    worker();  // the calling thread is one of the workers
    for (std::thread& th : pool) th.join();
    if (failure) std::rethrow_exception(failure);
}

}  // namespace awd
