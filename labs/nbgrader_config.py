"""nbgrader configuration for the course.

The course's tools (`mitdeeplearning.instructor`) run nbgrader in a scratch copy of this folder
and pass the absolute course root on the command line, so no gradebook lands in the repository.
"""

c = get_config()  # noqa: F821 - provided by nbgrader when it reads this file

c.CourseDirectory.course_id = "introtodeeplearning"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"

# What students see in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Autograding runs the notebooks with MITDL_FAST=1: cells finish in seconds. The limit stops a
# submission that loops forever without holding up the rest.
c.ExecutePreprocessor.timeout = 120
c.Execute.timeout = 120
