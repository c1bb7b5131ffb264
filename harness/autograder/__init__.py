"""Gradescope autograder for socklab: `make autograder LAB=NN` builds dist/autograder-labNN.zip.

    setup.sh          installs the Debian/Ubuntu packages the grader needs (Gradescope runs it
                      once, when it builds the autograder's image)
    run_autograder    Gradescope's entry point: runs `python3 -m harness.autograder.run`
    run.py            copies /autograder/submission into the lab, builds and grades it, and
                      keeps /autograder/results/results.json up to date as tests finish
    build.py          makes the zip: setup.sh, run_autograder, and socklab/ (the lab's handout,
                      plus the hidden tests in socklab/hidden/ and socklab/autograder.json)

The /autograder root may be moved with $SOCKLAB_AUTOGRADER_ROOT (the self-tests use a fake one).
"""
