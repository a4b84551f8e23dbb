# jetpack.image.mk: build appc images with `jetpack build` from a GNU Makefile.
#
# The same Makefile runs twice: on the host (preparation, then `jetpack build`), and inside the
# build pod, where the `build` target changes the pod's rootfs; what it changed becomes the
# image. Include this file after setting the variables below:
#
#     PARENT = example.com/busybox
#     NAME = example.com/hello
#     JETPACK ?= jetpack
#     JETPACK_SHARE ?= $(shell $(JETPACK) $(JETPACK_FLAGS) config path.share)
#     include $(JETPACK_SHARE)/jetpack.image.mk
#     build::
#     	cp hello /usr/bin/hello
#
# Targets (extend prepare, build and clean with `::` rules of your own):
#   image    (default) build the image on PARENT, write its ID to $(IMAGE_ID); again only when
#            the Makefile or $(BUILD_DEPS) changed. Without PARENT the Makefile makes a base
#            image: its own `aci` rule writes $(ACI), which `image` imports.
#   aci      export the image to $(ACI)
#   flat-aci export the image with its dependencies as one ACI, $(FLAT_ACI)
#   prepare  run on the host before the build pod starts
#   build    run inside the build pod, in the build directory (/.jetpack.build)
#   clean    remove $(IMAGE_ID), $(ACI), $(FLAT_ACI), the staged make and $(CLEAN_FILES)
#
# Inside the build pod JETPACK_IN_POD is 1 (test it with ifdef). The pod has only what PARENT
# has: unless BUILD_MAKE names a make of the parent's, the host's own make is carried into the
# build directory with its dynamic loader and libraries and run by them there (a busybox
# parent has no make), so the pod needs only /bin/sh for the recipes.

# This file and the Makefile that included it, before anything else is included.
JETPACK_IMAGE_MK := $(lastword $(MAKEFILE_LIST))
JETPACK_MAKEFILE := $(firstword $(MAKEFILE_LIST))

JETPACK ?= jetpack
# Options for every jetpack call, e.g. --config FILE or -o root=DIR.
JETPACK_FLAGS ?=
# The parent image (name or ID); empty for a base image.
PARENT ?=
# The new image's name, version label and other labels (LABEL=VALUE words).
NAME ?=
VERSION ?=
LABELS ?=
# The build pod's networks, the build directory (mounted at /.jetpack.build), more options of
# jetpack build (e.g. --keep), and files whose change calls for a new build.
BUILD_NET ?= default
BUILD_DIR ?= $(CURDIR)
BUILD_FLAGS ?=
BUILD_DEPS ?=
# NAME=VALUE words given to the make inside the build pod.
BUILD_VARS ?=
# The make to run inside the build pod if the parent has one (e.g. /usr/bin/make).
BUILD_MAKE ?=
# A rebuild gives an image of the same name and labels as the one it rebuilds, which jetpack
# build refuses unless told to replace it (the new one takes its tags); empty: refuse.
BUILD_REPLACE ?= --replace
# Host paths copied into the build directory for the build (jetpack build --cp).
BUILD_CP ?=
# Tags the new image gets (NAME@TAG finds it), moved from the image that had them.
TAGS ?=
IMAGE_ID ?= .image.id
ACI ?= image.aci
FLAT_ACI ?= image.flat.aci
CLEAN_FILES ?=

JP = $(JETPACK) $(JETPACK_FLAGS)
# Where the in-pod make and the Makefiles are staged, on the host and in the pod.
JETPACK_STAGE = $(BUILD_DIR)/.jetpack.make
JETPACK_POD_STAGE = /.jetpack.build/.jetpack.make

.PHONY: image aci flat-aci prepare build clean
prepare:: ;
build:: ;

ifdef JETPACK_IN_POD
.DEFAULT_GOAL := build
else
.DEFAULT_GOAL := image
endif

ifeq ($(strip $(PARENT)),)
# A base image: the including Makefile's `aci` rule writes $(ACI).
image: aci
	$(JP) import -q $(ACI) > $(IMAGE_ID).tmp
	mv $(IMAGE_ID).tmp $(IMAGE_ID)
else
image: $(IMAGE_ID)

$(IMAGE_ID): $(BUILD_DEPS) $(MAKEFILE_LIST) | prepare
	@$(jetpack_stage_make)
	$(JP) build --dir $(BUILD_DIR) --net $(BUILD_NET) $(if $(NAME),--name $(NAME)) \
	    $(if $(VERSION),-l version=$(VERSION)) $(foreach l,$(LABELS),-l $(l)) \
	    $(foreach t,$(TAGS),-t $(t)) $(foreach p,$(BUILD_CP),--cp $(p)) \
	    --save-id $(IMAGE_ID) $(BUILD_REPLACE) $(BUILD_FLAGS) $(PARENT) -- \
	    $(if $(BUILD_MAKE),$(BUILD_MAKE),/bin/sh $(JETPACK_POD_STAGE)/make) \
	    -f $(JETPACK_POD_STAGE)/Makefile JETPACK_IN_POD=1 \
	    JETPACK_SHARE=$(JETPACK_POD_STAGE) $(BUILD_VARS) build \
	    || { status=$$?; rm -rf $(JETPACK_STAGE); exit $$status; }
	rm -rf $(JETPACK_STAGE)

aci: $(IMAGE_ID)
	rm -f $(ACI)
	$(JP) image export $$(cat $(IMAGE_ID)) $(ACI)
endif

# The image and its dependencies in one ACI.
flat-aci: $(if $(strip $(PARENT)),$(IMAGE_ID),image)
	rm -f $(FLAT_ACI)
	$(JP) image export --flat $$(cat $(IMAGE_ID)) $(FLAT_ACI)

clean::
	rm -rf $(IMAGE_ID) $(IMAGE_ID).tmp $(ACI) $(FLAT_ACI) $(JETPACK_STAGE) $(CLEAN_FILES)

# Stages the Makefile, this file and (unless BUILD_MAKE) the running make with its loader
# and libraries in $(JETPACK_STAGE), and a `make` script there that runs them by the loader.
define jetpack_stage_make
set -e; \
stage='$(JETPACK_STAGE)'; pod='$(JETPACK_POD_STAGE)'; \
rm -rf "$$stage"; mkdir -p "$$stage/lib"; \
cp '$(JETPACK_MAKEFILE)' "$$stage/Makefile"; \
cp '$(JETPACK_IMAGE_MK)' "$$stage/jetpack.image.mk"; \
if [ -z '$(BUILD_MAKE)' ]; then \
    make=$$(command -v '$(MAKE)'); cp "$$make" "$$stage/make.bin"; \
    loader=; \
    for f in $$(LC_ALL=C ldd "$$make" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do \
        cp -L "$$f" "$$stage/lib/"; \
        case "$$f" in */ld-linux*|*/ld-musl*|*/ld.so*) loader=$$(basename "$$f");; esac; \
    done; \
    if [ -n "$$loader" ]; then \
        run="$$pod/lib/$$loader --library-path $$pod/lib --argv0 $$pod/make $$pod/make.bin"; \
    else \
        run="$$pod/make.bin"; \
    fi; \
    printf '#!/bin/sh\nexec %s "$$@"\n' "$$run" > "$$stage/make"; \
    chmod 0755 "$$stage/make"; \
fi
endef
