# Sourced by the GPU scripts that run libraries built on another machine
# (carried in build/plugins): puts a libcudart.so.13 on the loader path, the
# toolkit's, else the one of torch's CUDA wheels.
CUDART_DIR="$(python3 -c "import glob, os, site; c = [f for p in site.getsitepackages() for f in glob.glob(p + '/nvidia/*/lib/libcudart.so.*')]; print(os.path.dirname(c[0]) if c else '')" 2>/dev/null)"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64${CUDART_DIR:+:$CUDART_DIR}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
