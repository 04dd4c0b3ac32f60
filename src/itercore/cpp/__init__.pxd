# Cython declarations of itercore's C++ cores (cpp/include/itercore/), for
# Cython code that calls them directly and without the GIL:
#
#     from itercore.cpp cimport common, linalg, ot, completion
#
# These declare the same headers the Python extension is built from; nothing
# is bound twice. Build with include_dirs=[itercore.get_include(), <Eigen>],
# language="c++", C++17 and (for the threaded cores) OpenMP; see
# docs/embedding.md.
